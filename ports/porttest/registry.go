package porttest

import (
	"context"
	"sync"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// ClientRegistry runs the suite of ports.ClientRegistry. newRegistry returns
// a registry that holds (at least) clients, stored exactly as given.
func ClientRegistry(t *testing.T, newRegistry func(t *testing.T, clients ...domain.Client) ports.ClientRegistry) {
	ctx := context.Background()
	s := unique()
	active := domain.Client{
		UserID: "u-" + s + "-1", ClientNumber: "T" + digits(12), BirthDate: domain.MustDate("1985-04-12"),
		GivenNames: "Jana", Surname: "Nováková", PersonalNumber: digits(10),
		Phone: "+4207" + digits(8), Nationality: "CZE", Status: domain.StatusActive,
	}
	blocked := domain.Client{
		UserID: "u-" + s + "-2", ClientNumber: "T" + digits(12), BirthDate: domain.MustDate("1990-07-21"),
		GivenNames: "Petr", Surname: "Dvořák", Nationality: "CZE", Status: domain.StatusBlocked,
	}
	reg := newRegistry(t, active, blocked)

	t.Run("FindClient", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			id   domain.Identification
			want domain.Client
		}{
			{"client number and birth date", ident("clientNumber", active.ClientNumber, "birthDate", "1985-04-12"), active},
			{"personal number", ident("personalNumber", active.PersonalNumber), active},
			{"phone number", ident("phoneNumber", active.Phone), active},
			{"all keys at once", ident("clientNumber", active.ClientNumber, "birthDate", "1985-04-12",
				"personalNumber", active.PersonalNumber, "phoneNumber", active.Phone), active},
			{"a blocked client is found; eligibility is the service's call",
				ident("clientNumber", blocked.ClientNumber, "birthDate", "1990-07-21"), blocked},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := reg.FindClient(ctx, tc.id)
				must(t, err)
				same(t, "client", got, tc.want)
			})
		}
	})

	t.Run("FindClient not found", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			id   domain.Identification
		}{
			{"wrong birth date", ident("clientNumber", active.ClientNumber, "birthDate", "1985-04-13")},
			{"unknown client number", ident("clientNumber", "T"+digits(12), "birthDate", "1985-04-12")},
			{"another client's birth date", ident("clientNumber", blocked.ClientNumber, "birthDate", "1985-04-12")},
			{"unknown personal number", ident("personalNumber", digits(11))},
			{"unknown phone", ident("phoneNumber", "+4209"+digits(8))},
			{"personal number of one client, phone of none", ident("personalNumber", active.PersonalNumber, "phoneNumber", "+4209"+digits(8))},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := reg.FindClient(ctx, tc.id)
				wantCode(t, err, domain.CodeNotFound)
			})
		}
	})

	t.Run("ClientByUserID", func(t *testing.T) {
		got, err := reg.ClientByUserID(ctx, blocked.UserID)
		must(t, err)
		same(t, "client", got, blocked)
		_, err = reg.ClientByUserID(ctx, "u-"+unique())
		wantCode(t, err, domain.CodeNotFound)
	})

	t.Run("RegisterProspect is stable per identification", func(t *testing.T) {
		pn := digits(10)
		id := ident("clientNumber", "P"+digits(12), "birthDate", "1999-12-31", "personalNumber", pn)
		first, err := reg.RegisterProspect(ctx, id)
		must(t, err)
		if first.UserID == "" || first.Status != domain.StatusProspect {
			t.Fatalf("prospect = %+v, want a user id and status PROSPECT", first)
		}
		if first.ClientNumber != id.Value(domain.KeyClientNumber) || first.BirthDate != domain.MustDate("1999-12-31") ||
			first.PersonalNumber != pn {
			t.Fatalf("prospect = %+v, want the identification's values", first)
		}
		again, err := reg.RegisterProspect(ctx, ident("clientNumber", id.Value(domain.KeyClientNumber),
			"birthDate", "1999-12-31", "personalNumber", pn))
		must(t, err)
		same(t, "prospect registered again", again, first)
		byID, err := reg.ClientByUserID(ctx, first.UserID)
		must(t, err)
		same(t, "prospect by user id", byID, first)
		other, err := reg.RegisterProspect(ctx, ident("personalNumber", digits(10)))
		must(t, err)
		if other.UserID == first.UserID {
			t.Fatalf("two identifications got the same user %q", other.UserID)
		}
	})

	t.Run("RegisterProspect phone", func(t *testing.T) {
		phone := "+4206" + digits(8)
		p, err := reg.RegisterProspect(ctx, ident("phoneNumber", phone))
		must(t, err)
		if p.Phone != phone || p.Status != domain.StatusProspect {
			t.Fatalf("prospect = %+v, want phone %s and status PROSPECT", p, phone)
		}
	})

	t.Run("RegisterProspect concurrent calls get one user", func(t *testing.T) {
		id := ident("personalNumber", digits(10))
		users := make([]string, 50)
		errs := make([]error, 50)
		var wg sync.WaitGroup
		for i := range users {
			wg.Go(func() {
				c, err := reg.RegisterProspect(ctx, id)
				users[i], errs[i] = c.UserID, err
			})
		}
		wg.Wait()
		for i := range users {
			must(t, errs[i])
			if users[i] == "" || users[i] != users[0] {
				t.Fatalf("call %d got user %q, call 0 got %q", i, users[i], users[0])
			}
		}
	})
}
