"""Process definitions: read, validate, check the policy, hash, diff and merge BPMN/DMN/form bundles."""
