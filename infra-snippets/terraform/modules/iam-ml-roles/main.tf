# Least privilege: training may read datasets and write under models/;
# serving may only read models/. Neither can list other buckets, push images,
# or touch IAM. Every statement names its resources: no "*" except where the
# API itself has no resource-level permissions (ecr:GetAuthorizationToken).

data "aws_iam_policy_document" "training_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = var.training_principals
    }
  }
}

data "aws_iam_policy_document" "serving_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "ecr_pull" {
  statement {
    sid       = "EcrAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # this API has no resource-level permissions
  }
  statement {
    sid       = "EcrPull"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [var.ecr_repository_arn]
  }
}

data "aws_iam_policy_document" "training" {
  source_policy_documents = [data.aws_iam_policy_document.ecr_pull.json]

  statement {
    sid       = "ReadDatasets"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [var.dataset_bucket_arn, "${var.dataset_bucket_arn}/*"]
  }
  statement {
    sid       = "WriteModels"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = ["${var.artifact_bucket_arn}/models/*"]
  }
  statement {
    sid       = "UseBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

data "aws_iam_policy_document" "serving" {
  source_policy_documents = [data.aws_iam_policy_document.ecr_pull.json]

  statement {
    sid       = "ReadModels"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifact_bucket_arn}/models/*"]
  }
  statement {
    sid       = "DecryptModels"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role" "training" {
  name                 = "${var.name}-training"
  assume_role_policy   = data.aws_iam_policy_document.training_assume.json
  max_session_duration = 43200 # long training jobs outlive the 1 h default
  tags                 = var.tags
}

resource "aws_iam_role_policy" "training" {
  name   = "training-least-privilege"
  role   = aws_iam_role.training.id
  policy = data.aws_iam_policy_document.training.json
}

resource "aws_iam_role" "serving" {
  name               = "${var.name}-serving"
  assume_role_policy = data.aws_iam_policy_document.serving_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "serving" {
  name   = "serving-least-privilege"
  role   = aws_iam_role.serving.id
  policy = data.aws_iam_policy_document.serving.json
}

resource "aws_iam_instance_profile" "serving" {
  name = "${var.name}-serving"
  role = aws_iam_role.serving.name
  tags = var.tags
}
