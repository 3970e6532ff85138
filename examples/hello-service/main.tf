# A component that needs no provider download: terraform_data is built into Terraform, so this
# plans and applies offline. Ferry supplies the S3 backend and these variables.

terraform {
  required_version = ">= 1.10"
}

variable "environment" {
  type        = string
  description = "The environment being deployed (set by Ferry as TF_VAR_environment)."
}

variable "version" {
  type        = string
  description = "The release version being deployed (set by Ferry as TF_VAR_version)."
  default     = "unknown"
}

variable "replicas" {
  type    = number
  default = 2
}

resource "terraform_data" "service" {
  input = {
    name     = "hello-service-${var.environment}"
    version  = var.version
    replicas = var.replicas
  }
}

output "service_name" {
  value = terraform_data.service.output.name
}

output "deployed_version" {
  value = terraform_data.service.output.version
}
