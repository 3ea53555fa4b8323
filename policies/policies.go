// Package policies embeds the Casbin model and the default role policies.
// Tenant role assignments live in PostgreSQL; these files say what each role
// may do.
package policies

import _ "embed"

// Model is the Casbin model: the roles a user holds in a tenant, matched
// against role policies with explicit deny rules.
//
//go:embed model.conf
var Model string

// Default is the role policy every tenant starts with.
//
//go:embed default.csv
var Default string
