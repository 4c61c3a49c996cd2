variable "name" {
  description = "Name prefix for the roles."
  type        = string
}

variable "training_principals" {
  description = "Services allowed to assume the training role (SageMaker jobs, EC2 batch nodes)."
  type        = list(string)
  default     = ["sagemaker.amazonaws.com", "ec2.amazonaws.com"]
}

variable "dataset_bucket_arn" {
  description = "Bucket the training job reads datasets from (read-only)."
  type        = string
}

variable "artifact_bucket_arn" {
  description = "Bucket training writes models to and serving reads them from."
  type        = string
}

variable "ecr_repository_arn" {
  description = "Repository both roles pull images from."
  type        = string
}

variable "kms_key_arn" {
  description = "Key that encrypts both buckets."
  type        = string
}

variable "tags" {
  description = "Extra tags merged over the provider's default_tags."
  type        = map(string)
  default     = {}
}
