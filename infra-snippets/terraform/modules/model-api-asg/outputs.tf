output "alb_dns_name" {
  description = "DNS name to point the API's CNAME/alias at."
  value       = aws_lb.this.dns_name
}

output "app_security_group_id" {
  description = "Security group of the model servers (allow it into the database etc.)."
  value       = aws_security_group.app.id
}

output "autoscaling_group_name" {
  description = "Name of the Auto Scaling group."
  value       = aws_autoscaling_group.this.name
}
