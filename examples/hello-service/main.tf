# A component that needs no provider download: terraform_data is built into Terraform, so this
# plans and applies offline. Ferry supplies the S3 backend and these variables.

terraform {
  required_version = ">= 1.10"
}

variable "environment" {
  type        = string
  description = "The environment being deployed (set by Ferry as TF_VAR_environment)."
}

variable "release_version" {
  type        = string
  description = "The release version being deployed (set by Ferry as TF_VAR_release_version; `version` is reserved by Terraform)."
  default     = "unknown"
}

variable "replicas" {
  type    = number
  default = 2
}

resource "terraform_data" "service" {
  input = {
    name     = "hello-service-${var.environment}"
    version  = var.release_version
    replicas = var.replicas
  }
}

output "service_name" {
  value = terraform_data.service.output.name
}

output "deployed_version" {
  value = terraform_data.service.output.version
}
