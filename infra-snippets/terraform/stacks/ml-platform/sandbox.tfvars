# A throw-away workspace: no deletion protection, one NAT, single-AZ database.
owner                 = "ml-platform-team"
cost_center           = "cc-1234"
model_image_tag       = "v0.1.0"
monthly_budget_usd    = 200
budget_alert_emails   = ["ml-platform-alerts@example.com"]
production_safeguards = false
# model_server_ami_id and certificate_arn are account-specific: pass them with -var.
