output "repository_url" {
  description = "URL to docker push to."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "ARN, for pull/push IAM policies."
  value       = aws_ecr_repository.this.arn
}
