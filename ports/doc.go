// Package ports declares the interfaces between the domain services and the
// world: driven ports (what the services need: registry, stores, caches, SMS
// gateway, clock) and driving ports (what the transport calls). Interfaces
// are small and speak only domain types, so an adapter is swapped by
// configuration, never by a code change.
//
// Every method takes a context first and reports failures as domain errors
// (see domain.Error); the codes each method can return are named on it.
package ports
