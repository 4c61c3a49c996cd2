variable "name" {
  description = "Identifier prefix for the MLflow metadata database."
  type        = string
}

variable "vpc_id" {
  description = "VPC the database lives in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two or more AZs)."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups (the MLflow server) allowed to reach PostgreSQL."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "Key for storage, Performance Insights and the managed master secret."
  type        = string
}

variable "instance_class" {
  description = "MLflow metadata is small: a burstable class is plenty for a team."
  type        = string
  default     = "db.t4g.small"
}

variable "engine_version" {
  description = "PostgreSQL major.minor."
  type        = string
  default     = "16.4"
}

variable "allocated_storage_gb" {
  description = "Initial storage; autoscaling grows it up to 5x."
  type        = number
  default     = 20
}

variable "multi_az" {
  description = "Standby in a second AZ (prod: true)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse terraform destroy of the database. Only sandboxes set false."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags merged over the provider's default_tags."
  type        = map(string)
  default     = {}
}
