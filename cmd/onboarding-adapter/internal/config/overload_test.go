package config

import (
	"strings"
	"testing"
	"time"
)

// TestOverloadAndShutdownSettings covers ONBOARDING_MAX_IN_FLIGHT,
// ONBOARDING_MAX_IN_FLIGHT_BODY_BYTES and ONBOARDING_SHUTDOWN_DELAY: their defaults, accepted values and refusals
// naming the variable.
func TestOverloadAndShutdownSettings(t *testing.T) {
	c, err := Load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInFlight != 256 || c.ShutdownDelay != 0 || c.MaxInFlightBodyBytes != 0 {
		t.Fatalf("defaults: max in flight %d, shutdown delay %s, body bytes %d", c.MaxInFlight, c.ShutdownDelay, c.MaxInFlightBodyBytes)
	}
	c, err = Load(map[string]string{"ONBOARDING_MAX_IN_FLIGHT": "8", "ONBOARDING_SHUTDOWN_DELAY": "5s", "ONBOARDING_MAX_IN_FLIGHT_BODY_BYTES": "67108864"})
	if err != nil || c.MaxInFlight != 8 || c.ShutdownDelay != 5*time.Second || c.MaxInFlightBodyBytes != 64<<20 {
		t.Fatalf("set: %+v %v", c, err)
	}
	for _, tc := range []struct{ key, value string }{
		{"ONBOARDING_MAX_IN_FLIGHT", "0"},
		{"ONBOARDING_MAX_IN_FLIGHT", "1000000"},
		{"ONBOARDING_MAX_IN_FLIGHT", "many"},
		{"ONBOARDING_MAX_IN_FLIGHT_BODY_BYTES", "1000"},
		{"ONBOARDING_MAX_IN_FLIGHT_BODY_BYTES", "-1"},
		{"ONBOARDING_SHUTDOWN_DELAY", "-1s"},
		{"ONBOARDING_SHUTDOWN_DELAY", "2m"},
	} {
		if _, err := Load(map[string]string{tc.key: tc.value}); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%s: %v", tc.key, tc.value, err)
		}
	}
}
