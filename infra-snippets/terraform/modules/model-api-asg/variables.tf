variable "name" {
  description = "Name prefix for the load balancer and Auto Scaling group."
  type        = string
}

variable "vpc_id" {
  description = "VPC for the ALB and instances."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets for the internet-facing ALB."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets for the model-server instances."
  type        = list(string)
}

variable "ami_id" {
  description = "AMI with a container runtime (e.g. ECS-optimized Amazon Linux)."
  type        = string
}

variable "instance_type" {
  description = "Instance type of the model servers."
  type        = string
  default     = "c7g.large"
}

variable "instance_profile_name" {
  description = "Instance profile with the serving role."
  type        = string
}

variable "image_uri" {
  description = "Model-server image (immutable tag or digest)."
  type        = string
}

variable "container_port" {
  description = "Port the model server listens on."
  type        = number
  default     = 8080
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener."
  type        = string
}

variable "min_size" {
  description = "Minimum instances (two for AZ redundancy)."
  type        = number
  default     = 2
}

variable "max_size" {
  description = "Maximum instances."
  type        = number
  default     = 6
}

variable "target_cpu_percent" {
  description = "Average CPU the target-tracking policy holds the group at."
  type        = number
  default     = 60
}

variable "kms_key_arn" {
  description = "Key that encrypts the instances' EBS volumes."
  type        = string
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the ALB (prod: true)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags merged over the provider's default_tags."
  type        = map(string)
  default     = {}
}
