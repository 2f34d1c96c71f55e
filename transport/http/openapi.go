package httptransport

import (
	"bytes"
	_ "embed"
)

// openapiSpec is the contract, served by the admin handler and checked
// against every response in the tests.
//
//go:embed openapi.yaml
var openapiSpec []byte

// OpenAPISpec returns a copy of the embedded OpenAPI 3.0.3 document of the
// API, for tools and black-box tests.
func OpenAPISpec() []byte { return bytes.Clone(openapiSpec) }
