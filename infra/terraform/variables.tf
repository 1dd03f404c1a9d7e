variable "project" {
  description = "Name prefix of every resource (bucket names must be globally unique)."
  type        = string
  default     = "torchtrader"
}

variable "region" {
  description = "AWS region of the lake and the workers."
  type        = string
  default     = "eu-west-1"
}
