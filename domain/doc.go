// Package domain holds the entities, value types and the error type shared by
// every onboarding service. It is the innermost ring of the hexagon: it imports
// only the standard library, so ports, services, adapters and transports can
// all speak its language without import cycles.
package domain
