# The ML platform stack: network, data and artifact buckets, image registry,
# IAM for training and serving, MLflow's database, the model API and a budget.
# One state per workspace: `terraform workspace new staging` gives an
# independent copy with names suffixed by the workspace.
data "aws_caller_identity" "current" {}

locals {
  env  = terraform.workspace
  name = "${var.project}-${local.env}"
  required_tags = {
    project     = var.project
    environment = local.env
    owner       = var.owner
    cost_center = var.cost_center
    managed_by  = "terraform"
  }
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:Key policy: "*" resource is this key only, and the account root must administer it.
  # checkov:skip=CKV_AWS_111:Key policy: "*" resource is this key only.
  # checkov:skip=CKV_AWS_356:Key policy: "*" resource is this key only.
  # Key policy: the account (and so IAM policies) administers the key;
  # CloudWatch Logs may use it for the flow-log group.
  statement {
    sid       = "AccountAdmin"
    actions   = ["kms:*"]
    resources = ["*"] # "*" in a key policy means "this key"
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "platform" {
  description             = "${local.name} data, artifacts, images and database"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.platform.key_id
}

module "vpc" {
  source             = "../../modules/vpc"
  name               = local.name
  azs                = var.azs
  single_nat_gateway = !var.production_safeguards
  kms_key_arn        = aws_kms_key.platform.arn
}

module "datasets_bucket" {
  source        = "../../modules/s3-bucket"
  bucket_name   = "${local.name}-datasets-${data.aws_caller_identity.current.account_id}"
  kms_key_arn   = aws_kms_key.platform.arn
  force_destroy = !var.production_safeguards
  tags          = { data_classification = "internal" }
}

module "artifacts_bucket" {
  source        = "../../modules/s3-bucket"
  bucket_name   = "${local.name}-artifacts-${data.aws_caller_identity.current.account_id}"
  kms_key_arn   = aws_kms_key.platform.arn
  force_destroy = !var.production_safeguards
  # Models are re-read for rollbacks for longer than raw data: tier later.
  transition_to_glacier_days = 180
  tags                       = { data_classification = "internal" }
}

module "model_api_repo" {
  source      = "../../modules/ecr"
  name        = "${var.project}/model-api"
  kms_key_arn = aws_kms_key.platform.arn
}

module "iam" {
  source              = "../../modules/iam-ml-roles"
  name                = local.name
  dataset_bucket_arn  = module.datasets_bucket.bucket_arn
  artifact_bucket_arn = module.artifacts_bucket.bucket_arn
  ecr_repository_arn  = module.model_api_repo.repository_arn
  kms_key_arn         = aws_kms_key.platform.arn
}

module "model_api" {
  source                  = "../../modules/model-api-asg"
  name                    = local.name
  vpc_id                  = module.vpc.vpc_id
  public_subnet_ids       = module.vpc.public_subnet_ids
  private_subnet_ids      = module.vpc.private_subnet_ids
  ami_id                  = var.model_server_ami_id
  instance_profile_name   = module.iam.serving_instance_profile_name
  image_uri               = "${module.model_api_repo.repository_url}:${var.model_image_tag}"
  certificate_arn         = var.certificate_arn
  kms_key_arn             = aws_kms_key.platform.arn
  alb_deletion_protection = var.production_safeguards
}

module "mlflow_db" {
  source                     = "../../modules/rds-mlflow"
  name                       = local.name
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.private_subnet_ids
  allowed_security_group_ids = [module.model_api.app_security_group_id]
  kms_key_arn                = aws_kms_key.platform.arn
  multi_az                   = var.production_safeguards
  deletion_protection        = var.production_safeguards
}

module "budget" {
  source            = "../../modules/budget"
  name              = "${local.name}-monthly"
  monthly_limit_usd = var.monthly_budget_usd
  project_tag       = var.project
  alert_emails      = var.budget_alert_emails
}
