variable "project" {
  description = "Project name; first part of every resource name and the cost-allocation tag."
  type        = string
  default     = "mlops-course"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.project))
    error_message = "project must be 3-21 lowercase letters, digits or dashes (it ends up in bucket names)."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "azs" {
  description = "Availability zones."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b"]
}

variable "owner" {
  description = "Team that owns (and pays for) the stack."
  type        = string
}

variable "cost_center" {
  description = "Finance cost center for chargeback."
  type        = string
}

variable "model_server_ami_id" {
  description = "AMI for model-server instances."
  type        = string
}

variable "model_image_tag" {
  description = "Immutable tag of the model-server image to run."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the API's HTTPS listener."
  type        = string
}

variable "monthly_budget_usd" {
  description = "Monthly cost budget for the project."
  type        = number
  default     = 500
}

variable "budget_alert_emails" {
  description = "Recipients of budget alerts."
  type        = list(string)
}

variable "production_safeguards" {
  description = "Deletion protection, multi-AZ DB and NAT per AZ. false only in throw-away workspaces."
  type        = bool
  default     = true
}
