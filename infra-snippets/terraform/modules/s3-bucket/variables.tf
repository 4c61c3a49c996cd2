variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for SSE-KMS (audit trail of every decrypt in CloudTrail)."
  type        = string
}

variable "transition_to_ia_days" {
  description = "Days before current objects move to STANDARD_IA (30 is the minimum S3 allows)."
  type        = number
  default     = 30
}

variable "transition_to_glacier_days" {
  description = "Days before current objects move to GLACIER (old datasets, superseded model artifacts)."
  type        = number
  default     = 90
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced object version is kept (rollback window for models and datasets)."
  type        = number
  default     = 180
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a non-empty bucket. Keep false outside sandboxes."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags merged over the provider's default_tags."
  type        = map(string)
  default     = {}
}
