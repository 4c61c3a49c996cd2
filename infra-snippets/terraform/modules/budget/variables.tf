variable "name" {
  description = "Budget name."
  type        = string
}

variable "monthly_limit_usd" {
  description = "Monthly cost budget in USD."
  type        = number
}

variable "project_tag" {
  description = "Value of the project cost-allocation tag the budget filters on."
  type        = string
}

variable "alert_emails" {
  description = "Who gets the forecast/actual alerts."
  type        = list(string)
}
