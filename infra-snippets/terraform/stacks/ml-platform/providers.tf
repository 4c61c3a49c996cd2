provider "aws" {
  region = var.region

  # Every taggable resource gets these, so cost reports and budgets can be
  # split by project/environment without each module remembering to tag.
  default_tags {
    tags = local.required_tags
  }
}
