output "training_role_arn" {
  description = "Role for training jobs."
  value       = aws_iam_role.training.arn
}

output "serving_role_arn" {
  description = "Role for model-serving instances."
  value       = aws_iam_role.serving.arn
}

output "serving_instance_profile_name" {
  description = "Instance profile wrapping the serving role, for launch templates."
  value       = aws_iam_instance_profile.serving.name
}
