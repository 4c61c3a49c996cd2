variable "name" {
  description = "Name prefix for every VPC resource."
  type        = string
}

variable "cidr_block" {
  description = "VPC CIDR. /16 leaves room for more subnets later."
  type        = string
  default     = "10.20.0.0/16"
}

variable "azs" {
  description = "Availability zones to spread subnets over (at least two for ALB and RDS)."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 2
    error_message = "ALB and RDS subnet groups need subnets in at least two AZs."
  }
}

variable "single_nat_gateway" {
  description = "One NAT for all AZs (cheap, dev) instead of one per AZ (HA, prod)."
  type        = bool
  default     = true
}

variable "interface_endpoints" {
  description = "AWS services reached through interface endpoints so private nodes need no NAT for them."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "sts"]
}

variable "flow_log_retention_days" {
  description = "CloudWatch retention for VPC flow logs."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow-log group."
  type        = string
}

variable "tags" {
  description = "Extra tags merged over the provider's default_tags."
  type        = map(string)
  default     = {}
}
