package config

import (
	"strings"
	"testing"
	"time"
)

// TestOverloadAndShutdownSettings covers ONBOARDING_MAX_IN_FLIGHT and
// ONBOARDING_SHUTDOWN_DELAY: their defaults, accepted values and refusals
// naming the variable.
func TestOverloadAndShutdownSettings(t *testing.T) {
	c, err := Load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInFlight != 256 || c.ShutdownDelay != 0 {
		t.Fatalf("defaults: max in flight %d, shutdown delay %s", c.MaxInFlight, c.ShutdownDelay)
	}
	c, err = Load(map[string]string{"ONBOARDING_MAX_IN_FLIGHT": "8", "ONBOARDING_SHUTDOWN_DELAY": "5s"})
	if err != nil || c.MaxInFlight != 8 || c.ShutdownDelay != 5*time.Second {
		t.Fatalf("set: %+v %v", c, err)
	}
	for _, tc := range []struct{ key, value string }{
		{"ONBOARDING_MAX_IN_FLIGHT", "0"},
		{"ONBOARDING_MAX_IN_FLIGHT", "1000000"},
		{"ONBOARDING_MAX_IN_FLIGHT", "many"},
		{"ONBOARDING_SHUTDOWN_DELAY", "-1s"},
		{"ONBOARDING_SHUTDOWN_DELAY", "2m"},
	} {
		if _, err := Load(map[string]string{tc.key: tc.value}); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%s: %v", tc.key, tc.value, err)
		}
	}
}
