// Package chartest renders the Helm chart through the Helm SDK and checks
// the manifests; it lives in its own module so the service's go.mod stays
// free of Helm and Kubernetes dependencies.
package chartest
