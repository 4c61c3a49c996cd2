# PostgreSQL for the MLflow tracking server's backend store
# (postgresql+psycopg2://mlflow@<endpoint>/mlflow). The master password is
# generated and rotated by RDS in Secrets Manager: it never enters state.
resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "PostgreSQL from the MLflow server only"
  vpc_id      = var.vpc_id

  ingress {
    description     = "PostgreSQL from allowed app security groups"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = var.allowed_security_group_ids
  }

  tags = merge(var.tags, { Name = "${var.name}-db" })
}

resource "aws_db_subnet_group" "this" {
  name       = "${var.name}-db"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_db_parameter_group" "this" {
  name   = "${var.name}-pg16"
  family = "postgres16"

  parameter {
    name  = "rds.force_ssl" # clients must use TLS
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement" # slow MLflow search queries show up in logs
    value = "500"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  tags = var.tags
}

resource "aws_db_instance" "this" {
  # checkov:skip=CKV_AWS_118:Enhanced monitoring needs an extra IAM role; Performance Insights covers the labs.
  identifier     = "${var.name}-mlflow"
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = "mlflow"
  username       = "mlflow_admin"

  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.allocated_storage_gb * 5
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = var.multi_az

  iam_database_authentication_enabled = true
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = var.kms_key_arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]

  backup_retention_period    = 7
  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true
  deletion_protection        = var.deletion_protection
  skip_final_snapshot        = !var.deletion_protection
  final_snapshot_identifier  = var.deletion_protection ? "${var.name}-mlflow-final" : null

  tags = var.tags
}
