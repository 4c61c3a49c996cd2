output "endpoint" {
  description = "host:port for MLflow's --backend-store-uri."
  value       = aws_db_instance.this.endpoint
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the generated master password."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "security_group_id" {
  description = "Database security group."
  value       = aws_db_instance.this.vpc_security_group_ids
}
