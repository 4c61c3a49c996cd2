output "vpc_id" {
  description = "VPC of the platform."
  value       = module.vpc.vpc_id
}

output "datasets_bucket" {
  description = "Bucket for training data."
  value       = module.datasets_bucket.bucket_id
}

output "artifacts_bucket" {
  description = "Bucket for model artifacts (MLflow --artifacts-destination)."
  value       = module.artifacts_bucket.bucket_id
}

output "model_api_repository_url" {
  description = "docker push target for the model API image."
  value       = module.model_api_repo.repository_url
}

output "model_api_url" {
  description = "HTTPS endpoint of the model API."
  value       = "https://${module.model_api.alb_dns_name}"
}

output "mlflow_db_endpoint" {
  description = "PostgreSQL endpoint for MLflow's backend store."
  value       = module.mlflow_db.endpoint
}

output "training_role_arn" {
  description = "Role for training jobs."
  value       = module.iam.training_role_arn
}
