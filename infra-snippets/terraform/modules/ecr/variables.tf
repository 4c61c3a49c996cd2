variable "name" {
  description = "Repository name, e.g. ml/model-api."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts image layers."
  type        = string
}

variable "keep_tagged_images" {
  description = "How many release-tagged images to keep (rollback depth)."
  type        = number
  default     = 30
}

variable "untagged_expiry_days" {
  description = "Days before untagged (superseded build) images are deleted."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Extra tags merged over the provider's default_tags."
  type        = map(string)
  default     = {}
}
