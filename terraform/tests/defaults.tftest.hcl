# The stack with every variable at its default, applied against the mocked provider.
# scripts/check-deploy.sh runs `orderflow check-config` on the rendered config.

mock_provider "aws" {
  source = "./tests/mocks"
}

run "defaults" {}
