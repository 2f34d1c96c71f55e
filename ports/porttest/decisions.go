package porttest

import (
	"bytes"
	"context"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// DecisionStore runs the suite of ports.DecisionStore and ports.ReviewCases,
// which one adapter implements together so a resolution and its decision
// change in one step.
func DecisionStore(t *testing.T, newStores func(t *testing.T) (ports.DecisionStore, ports.ReviewCases)) {
	ctx := context.Background()
	store, cases := newStores(t)

	t.Run("not found", func(t *testing.T) {
		_, err := store.Decision(ctx, domain.KindApproval, "p-"+unique(), "iv-"+unique())
		wantCode(t, err, domain.CodeNotFound)
		_, err = cases.ReviewCase(ctx, newUUID())
		wantCode(t, err, domain.CodeNotFound)
		_, err = cases.ClaimReviewCase(ctx, newUUID(), "alice", "", now())
		wantCode(t, err, domain.CodeNotFound)
		_, err = cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: newUUID(), Result: domain.ResultOK,
			Reviewer: "alice", At: now()})
		wantCode(t, err, domain.CodeNotFound)
	})

	t.Run("save once, then the stored decision comes back", func(t *testing.T) {
		d := newDecision(domain.KindEvaluation, domain.ResultNOK)
		got, stored, err := store.SaveDecision(ctx, d, nil)
		must(t, err)
		if !stored {
			t.Fatal("the first save did not store")
		}
		sameDecision(t, got, d)
		read, err := store.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID)
		must(t, err)
		sameDecision(t, read, d)

		retry := d
		retry.Result, retry.ReasonCode, retry.ReasonText, retry.RequestID = domain.ResultOK, "", "", "req-"+unique()
		got, stored, err = store.SaveDecision(ctx, retry, nil)
		must(t, err)
		if stored {
			t.Fatal("a second save of the same key stored")
		}
		sameDecision(t, got, d)
		read, err = store.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID)
		must(t, err)
		sameDecision(t, read, d)
	})

	t.Run("the key is kind, process and identity verification", func(t *testing.T) {
		d := newDecision(domain.KindEvaluation, domain.ResultNOK)
		_, _, err := store.SaveDecision(ctx, d, nil)
		must(t, err)
		approval := d
		approval.Kind, approval.Result, approval.ReasonCode, approval.ReasonText = domain.KindApproval, domain.ResultOK, "", ""
		otherIV := d
		otherIV.IdentityVerificationID, otherIV.Result = "iv-"+unique(), domain.ResultOK
		for _, o := range []domain.Decision{approval, otherIV} {
			got, stored, err := store.SaveDecision(ctx, o, nil)
			must(t, err)
			if !stored {
				t.Fatalf("a decision of another key (%s, %s) was not stored", o.Kind, o.IdentityVerificationID)
			}
			sameDecision(t, got, o)
		}
		read, err := store.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID)
		must(t, err)
		sameDecision(t, read, d)
	})

	t.Run("both kinds of a verification in one read", func(t *testing.T) {
		ev := newDecision(domain.KindEvaluation, domain.ResultNOK)
		both, err := store.VerificationDecisions(ctx, ev.ProcessID, ev.IdentityVerificationID)
		must(t, err)
		if both.Approval != nil || both.Evaluation != nil {
			t.Fatalf("nothing stored yet, got %+v", both)
		}
		_, _, err = store.SaveDecision(ctx, ev, nil)
		must(t, err)
		// Decisions of other verifications and processes are not included.
		otherIV := newDecision(domain.KindApproval, domain.ResultOK)
		otherIV.ProcessID = ev.ProcessID
		_, _, err = store.SaveDecision(ctx, otherIV, nil)
		must(t, err)
		both, err = store.VerificationDecisions(ctx, ev.ProcessID, ev.IdentityVerificationID)
		must(t, err)
		if both.Approval != nil || both.Evaluation == nil {
			t.Fatalf("with the evaluation stored: %+v, want it alone", both)
		}
		sameDecision(t, *both.Evaluation, ev)
		got, ok := both.Of(domain.KindEvaluation)
		if !ok {
			t.Fatal("Of(evaluation) found nothing")
		}
		sameDecision(t, got, ev)
		if _, ok := both.Of(domain.KindApproval); ok {
			t.Fatal("Of(approval) found a decision")
		}

		// The approval is a WAIT whose case is resolved: it comes back
		// resolved, as Decision returns it.
		ap, rc := newWaitDecision(domain.KindApproval, now())
		ap.ProcessID, ap.IdentityVerificationID = ev.ProcessID, ev.IdentityVerificationID
		rc.ProcessID, rc.IdentityVerificationID = ev.ProcessID, ev.IdentityVerificationID
		_, _, err = store.SaveDecision(ctx, ap, &rc)
		must(t, err)
		_, err = cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultNOK,
			Reason: "document photo does not match", Reviewer: "alice", At: now()})
		must(t, err)
		both, err = store.VerificationDecisions(ctx, ev.ProcessID, ev.IdentityVerificationID)
		must(t, err)
		if both.Approval == nil || both.Evaluation == nil {
			t.Fatalf("with both stored: %+v", both)
		}
		read, err := store.Decision(ctx, domain.KindApproval, ap.ProcessID, ap.IdentityVerificationID)
		must(t, err)
		sameDecision(t, *both.Approval, read)
		if both.Approval.Result != domain.ResultNOK || both.Approval.ReasonCode != domain.ReasonReviewRejected {
			t.Fatalf("resolved approval = %s %s, want NOK %s", both.Approval.Result, both.Approval.ReasonCode, domain.ReasonReviewRejected)
		}
		sameDecision(t, *both.Evaluation, ev)
	})

	t.Run("50 concurrent saves: one winner everyone sees", func(t *testing.T) {
		base := newDecision(domain.KindEvaluation, domain.ResultOK)
		const n = 50
		got := make([]domain.Decision, n)
		stored := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				d := base
				d.RequestID = "req-" + unique()
				got[i], stored[i], errs[i] = store.SaveDecision(ctx, d, nil)
			})
		}
		wg.Wait()
		winners := 0
		for i := range n {
			must(t, errs[i])
			if stored[i] {
				winners++
			}
			if got[i].RequestID != got[0].RequestID {
				t.Fatalf("call %d got the decision of %s, call 0 that of %s", i, got[i].RequestID, got[0].RequestID)
			}
		}
		if winners != 1 {
			t.Fatalf("%d saves stored, want exactly 1", winners)
		}
		read, err := store.Decision(ctx, base.Kind, base.ProcessID, base.IdentityVerificationID)
		must(t, err)
		sameDecision(t, read, got[0])
	})

	t.Run("a decision and its review case are saved together", func(t *testing.T) {
		d, rc := newWaitDecision(domain.KindEvaluation, now())
		got, stored, err := store.SaveDecision(ctx, d, &rc)
		must(t, err)
		if !stored || got.ReviewCaseID != rc.ID {
			t.Fatalf("save = %+v stored %v, want stored with review case %s", got, stored, rc.ID)
		}
		c, err := cases.ReviewCase(ctx, rc.ID)
		must(t, err)
		sameCase(t, c, withDecision(rc, d))

		// A retry that would open another case opens none.
		d2, rc2 := d, rc
		d2.ReviewCaseID, rc2.ID = "", newUUID()
		got, stored, err = store.SaveDecision(ctx, d2, &rc2)
		must(t, err)
		if stored || got.ReviewCaseID != rc.ID {
			t.Fatalf("retry = %+v stored %v, want the first decision with case %s", got, stored, rc.ID)
		}
		_, err = cases.ReviewCase(ctx, rc2.ID)
		wantCode(t, err, domain.CodeNotFound)
	})

	t.Run("a review case id already used is CodeConflict and stores nothing", func(t *testing.T) {
		first, rc := newWaitDecision(domain.KindEvaluation, now())
		_, _, err := store.SaveDecision(ctx, first, &rc)
		must(t, err)
		other, otherCase := newWaitDecision(domain.KindApproval, now())
		otherCase.ID, other.ReviewCaseID = rc.ID, rc.ID
		_, _, err = store.SaveDecision(ctx, other, &otherCase)
		wantCode(t, err, domain.CodeConflict)
		_, err = store.Decision(ctx, other.Kind, other.ProcessID, other.IdentityVerificationID)
		wantCode(t, err, domain.CodeNotFound)
		c, err := cases.ReviewCase(ctx, rc.ID)
		must(t, err)
		if c.ProcessID != first.ProcessID || c.Kind != first.Kind {
			t.Fatalf("case %s now belongs to %s %s, want still %s %s", rc.ID, c.Kind, c.ProcessID, first.Kind, first.ProcessID)
		}
		// The same decision with a fresh case id is stored.
		otherCase.ID, other.ReviewCaseID = newUUID(), ""
		got, stored, err := store.SaveDecision(ctx, other, &otherCase)
		must(t, err)
		if !stored || got.ReviewCaseID != otherCase.ID {
			t.Fatalf("save with a fresh case id = %+v stored %v, want stored with case %s", got, stored, otherCase.ID)
		}
	})

	t.Run("returned values are copies", func(t *testing.T) {
		d, rc := newWaitDecision(domain.KindApproval, now())
		got, _, err := store.SaveDecision(ctx, d, &rc)
		must(t, err)
		got.Rules[0].Code = "CHANGED"
		*got.Score = 0
		rc.Evidence.Frame[0] = 0
		rc.ReasonCodes[0] = "CHANGED"
		rc.Evidence.Registry.Surname = "Changed"
		read, err := store.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID)
		must(t, err)
		if read.Rules[0].Code == "CHANGED" || *read.Score == 0 {
			t.Fatal("changing a returned decision changed the stored one")
		}
		c, err := cases.ReviewCase(ctx, rc.ID)
		must(t, err)
		if c.Evidence.Frame[0] == 0 || c.ReasonCodes[0] == "CHANGED" || c.Evidence.Registry.Surname == "Changed" {
			t.Fatal("changing the saved case changed the stored one")
		}
		c.Evidence.Documents[0].Surname = "Changed"
		c.Rules[0].Code = "CHANGED"
		*c.Score = 1
		again, err := cases.ReviewCase(ctx, rc.ID)
		must(t, err)
		if again.Evidence.Documents[0].Surname == "Changed" || again.Rules[0].Code == "CHANGED" || *again.Score == 1 {
			t.Fatal("changing a returned case changed the stored one")
		}
		repeat, _, err := store.SaveDecision(ctx, d, nil)
		must(t, err)
		repeat.Rules[1].Code = "CHANGED"
		read, err = store.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID)
		must(t, err)
		if read.Rules[1].Code == "CHANGED" {
			t.Fatal("changing the decision a repeated save returned changed the stored one")
		}
		read.Images[0].Size = 0
		if again, _ := store.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID); again.Images[0].Size == 0 {
			t.Fatal("changing a read decision changed the stored one")
		}
	})

	t.Run("claim", func(t *testing.T) {
		d, rc := newWaitDecision(domain.KindEvaluation, now())
		_, _, err := store.SaveDecision(ctx, d, &rc)
		must(t, err)
		at := now()
		c, err := cases.ClaimReviewCase(ctx, rc.ID, "alice", "", at)
		must(t, err)
		if c.Status != domain.ReviewClaimed || c.ClaimedBy != "alice" || !c.ClaimedAt.Equal(at) {
			t.Fatalf("claimed case = %+v, want CLAIMED by alice at %v", c, at)
		}
		c, err = cases.ClaimReviewCase(ctx, rc.ID, "alice", "", at.Add(time.Minute))
		must(t, err)
		if c.Status != domain.ReviewClaimed || c.ClaimedBy != "alice" {
			t.Fatalf("re-claimed case = %+v, want still CLAIMED by alice", c)
		}
		_, err = cases.ClaimReviewCase(ctx, rc.ID, "bob", "", at)
		wantCode(t, err, domain.CodeConflict)
		c, err = cases.ReviewCase(ctx, rc.ID)
		must(t, err)
		if c.ClaimedBy != "alice" {
			t.Fatalf("after bob's claim the case is claimed by %q, want alice", c.ClaimedBy)
		}
	})

	t.Run("resolve NOK: the decision answers REVIEW_REJECTED", func(t *testing.T) {
		d, rc := newWaitDecision(domain.KindEvaluation, now())
		_, _, err := store.SaveDecision(ctx, d, &rc)
		must(t, err)
		_, err = cases.ClaimReviewCase(ctx, rc.ID, "alice", "", now())
		must(t, err)
		at := now()
		c, err := cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultNOK,
			Reason: "document photo does not match", Reviewer: "alice", At: at})
		must(t, err)
		if c.Status != domain.ReviewResolved || c.Resolution != domain.ResultNOK || c.ResolvedBy != "alice" ||
			c.ResolutionReason != "document photo does not match" || !c.ResolvedAt.Equal(at) || c.Answered != domain.ResultWAIT {
			t.Fatalf("resolved case = %+v", c)
		}
		read, err := store.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID)
		must(t, err)
		if read.Result != domain.ResultNOK || read.ReasonCode != domain.ReasonReviewRejected ||
			read.ResultReason() != "REVIEW_REJECTED: rejected in manual review" || read.ReviewCaseID != rc.ID {
			t.Fatalf("decision after NOK = %+v", read)
		}
		same(t, "rules after resolution", read.Rules, d.Rules)
		// A re-sent request gets the resolution, not the stored WAIT.
		got, stored, err := store.SaveDecision(ctx, d, nil)
		must(t, err)
		if stored || got.Result != domain.ResultNOK {
			t.Fatalf("save after resolution = %+v stored %v, want the resolved NOK", got, stored)
		}
		_, err = cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultOK,
			Reviewer: "bob", At: now()})
		wantCode(t, err, domain.CodeConflict)
		_, err = cases.ClaimReviewCase(ctx, rc.ID, "bob", "", now())
		wantCode(t, err, domain.CodeConflict)
		_, err = cases.ClaimReviewCase(ctx, rc.ID, "alice", "", now())
		wantCode(t, err, domain.CodeConflict)
		read, err = store.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID)
		must(t, err)
		if read.Result != domain.ResultNOK {
			t.Fatalf("a refused second resolution changed the decision to %s", read.Result)
		}
	})

	t.Run("resolve OK of an open case with a second reviewer", func(t *testing.T) {
		d, rc := newWaitDecision(domain.KindApproval, now())
		_, _, err := store.SaveDecision(ctx, d, &rc)
		must(t, err)
		c, err := cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultOK,
			Reason: "verified by video call", Reviewer: "alice", SecondReviewer: "carol", At: now()})
		must(t, err)
		if c.Status != domain.ReviewResolved || c.Resolution != domain.ResultOK || c.SecondReviewer != "carol" {
			t.Fatalf("resolved case = %+v", c)
		}
		read, err := store.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID)
		must(t, err)
		if read.Result != domain.ResultOK || read.ReasonCode != "" || read.ResultReason() != "" {
			t.Fatalf("decision after OK = %+v, want OK without a reason", read)
		}
	})

	t.Run("purge drops the evidence of cases resolved before the cut-off", func(t *testing.T) {
		old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rand.IntN(1e6)) * time.Second)
		dOld, rcOld := newWaitDecision(domain.KindEvaluation, old.Add(-time.Hour))
		dNew, rcNew := newWaitDecision(domain.KindEvaluation, old.Add(-time.Hour))
		dOpen, rcOpen := newWaitDecision(domain.KindEvaluation, old.Add(-time.Hour))
		for _, x := range []struct {
			d  domain.Decision
			rc domain.ReviewCase
		}{{dOld, rcOld}, {dNew, rcNew}, {dOpen, rcOpen}} {
			_, _, err := store.SaveDecision(ctx, x.d, &x.rc)
			must(t, err)
		}
		_, err := cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: rcOld.ID, Result: domain.ResultNOK, Reviewer: "alice", At: old})
		must(t, err)
		_, err = cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: rcNew.ID, Result: domain.ResultOK, Reviewer: "alice", At: old.Add(time.Hour)})
		must(t, err)
		n, err := cases.PurgeReviewEvidence(ctx, old.Add(time.Second), "retention test")
		must(t, err)
		if n < 1 {
			t.Fatalf("purged %d cases, want at least the one resolved before the cut-off", n)
		}
		c, err := cases.ReviewCase(ctx, rcOld.ID)
		must(t, err)
		if !c.EvidencePurged || len(c.Evidence.Documents) != 0 || c.Evidence.Registry != nil || len(c.Evidence.Frame) != 0 {
			t.Fatalf("purged case keeps evidence: %+v", c)
		}
		if c.Status != domain.ReviewResolved || c.Resolution != domain.ResultNOK || len(c.ReasonCodes) == 0 {
			t.Fatalf("purging changed the case itself: %+v", c)
		}
		same(t, "rules of the purged case", c.Rules, dOld.Rules)
		for _, id := range []string{rcNew.ID, rcOpen.ID} {
			c, err := cases.ReviewCase(ctx, id)
			must(t, err)
			if c.EvidencePurged || len(c.Evidence.Documents) == 0 || len(c.Evidence.Frame) == 0 {
				t.Fatalf("case %s lost its evidence: %+v", id, c)
			}
		}
		read, err := store.Decision(ctx, dOld.Kind, dOld.ProcessID, dOld.IdentityVerificationID)
		must(t, err)
		if read.Result != domain.ResultNOK || len(read.Rules) != len(dOld.Rules) {
			t.Fatalf("purging changed the decision: %+v", read)
		}
		read, err = store.Decision(ctx, dOpen.Kind, dOpen.ProcessID, dOpen.IdentityVerificationID)
		must(t, err)
		if read.Result != domain.ResultWAIT {
			t.Fatalf("purging changed the open case's decision: %+v", read)
		}
		trail, err := cases.ReviewAudit(ctx, rcOld.ID)
		must(t, err)
		if actions := auditActions(trail); !equalStrings(actions, []string{domain.ReviewActionResolve, domain.ReviewActionPurge}) {
			t.Fatalf("audit of the purged case = %v, want the resolution kept and the purge added", actions)
		}
		if trail[1].Actor == "" || trail[1].At.IsZero() || trail[1].Reason != "retention test" || trail[1].Channel != domain.ReviewChannelRetention {
			t.Fatalf("purge audit entry = %+v, want an actor, a time, the purge's reason and channel", trail[1])
		}
		trail, err = cases.ReviewAudit(ctx, rcNew.ID)
		must(t, err)
		if actions := auditActions(trail); !equalStrings(actions, []string{domain.ReviewActionResolve}) {
			t.Fatalf("audit of the recent case = %v, want only its resolution", actions)
		}
		// A second purge finds nothing more to purge among these cases.
		_, err = cases.PurgeReviewEvidence(ctx, old.Add(time.Second), "retention test")
		must(t, err)
		trail, err = cases.ReviewAudit(ctx, rcOld.ID)
		must(t, err)
		if len(trail) != 2 {
			t.Fatalf("a second purge audited the purged case again: %v", auditActions(trail))
		}
	})

	t.Run("four-eyes proposal", func(t *testing.T) {
		d, rc := newWaitDecision(domain.KindApproval, now())
		_, _, err := store.SaveDecision(ctx, d, &rc)
		must(t, err)
		_, err = cases.ProposeReviewResolution(ctx, ports.ReviewResolution{CaseID: newUUID(), Result: domain.ResultOK,
			Reason: "x", Reviewer: "alice", At: now()})
		wantCode(t, err, domain.CodeNotFound)
		at := now()
		c, err := cases.ProposeReviewResolution(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultOK,
			Reason: "selfie matches the document", Reviewer: "alice", At: at})
		must(t, err)
		want := domain.ReviewProposal{Result: domain.ResultOK, Reason: "selfie matches the document", By: "alice", At: at}
		if c.Status != domain.ReviewOpen || !c.Proposal.Pending() {
			t.Fatalf("case after a proposal = %+v, want still OPEN with the proposal", c)
		}
		c.Proposal.At = utc(c.Proposal.At)
		same(t, "proposal", c.Proposal, want)
		read, err := cases.ReviewCase(ctx, rc.ID)
		must(t, err)
		read.Proposal.At = utc(read.Proposal.At)
		same(t, "proposal read back", read.Proposal, want)
		dec, err := store.Decision(ctx, d.Kind, d.ProcessID, d.IdentityVerificationID)
		must(t, err)
		if dec.Result != domain.ResultWAIT {
			t.Fatalf("a proposal changed the decision to %s", dec.Result)
		}
		_, err = cases.ProposeReviewResolution(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultOK,
			Reason: "again", Reviewer: "bob", At: now()})
		wantCode(t, err, domain.CodeConflict)

		resolved, err := cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultOK,
			Reason: want.Reason, Reviewer: "alice", SecondReviewer: "carol", SecondReason: "agree: same person", At: now()})
		must(t, err)
		if resolved.Status != domain.ReviewResolved || resolved.Proposal.By != "alice" || resolved.SecondReviewer != "carol" {
			t.Fatalf("confirmed case = %+v, want RESOLVED keeping the proposal", resolved)
		}
		_, err = cases.ProposeReviewResolution(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultOK,
			Reason: "late", Reviewer: "dave", At: now()})
		wantCode(t, err, domain.CodeConflict)
	})

	t.Run("audit trail: who, when, what, why", func(t *testing.T) {
		_, err := cases.ReviewAudit(ctx, newUUID())
		wantCode(t, err, domain.CodeNotFound)
		d, rc := newWaitDecision(domain.KindEvaluation, now())
		_, _, err = store.SaveDecision(ctx, d, &rc)
		must(t, err)
		trail, err := cases.ReviewAudit(ctx, rc.ID)
		must(t, err)
		if len(trail) != 0 {
			t.Fatalf("a new case has audit entries: %+v", trail)
		}
		t0 := now()
		_, err = cases.ClaimReviewCase(ctx, rc.ID, "alice", domain.ReviewChannelCLI, t0)
		must(t, err)
		_, err = cases.ClaimReviewCase(ctx, rc.ID, "alice", "", t0.Add(time.Second)) // a repeat is no new action
		must(t, err)
		_, err = cases.ClaimReviewCase(ctx, rc.ID, "bob", "", t0.Add(time.Second)) // refused: not audited
		wantCode(t, err, domain.CodeConflict)
		_, err = cases.ProposeReviewResolution(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultOK,
			Reason: "name differs only by a diacritic", Reviewer: "alice", At: t0.Add(2 * time.Second), Channel: domain.ReviewChannelUI})
		must(t, err)
		_, err = cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultOK,
			Reason: "name differs only by a diacritic", Reviewer: "alice", SecondReviewer: "carol",
			SecondReason: "checked the MRZ", At: t0.Add(3 * time.Second), Channel: domain.ReviewChannelAPI})
		must(t, err)
		_, err = cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: rc.ID, Result: domain.ResultNOK,
			Reason: "again", Reviewer: "bob", At: t0.Add(4 * time.Second)}) // refused: not audited
		wantCode(t, err, domain.CodeConflict)
		trail, err = cases.ReviewAudit(ctx, rc.ID)
		must(t, err)
		for i := range trail {
			trail[i].At = utc(trail[i].At)
		}
		same(t, "audit trail", trail, []domain.ReviewAuditEntry{
			{CaseID: rc.ID, Action: domain.ReviewActionClaim, Actor: "alice", Channel: domain.ReviewChannelCLI, At: t0},
			{CaseID: rc.ID, Action: domain.ReviewActionPropose, Actor: "alice", Reason: "name differs only by a diacritic",
				Result: domain.ResultOK, Channel: domain.ReviewChannelUI, At: t0.Add(2 * time.Second)},
			{CaseID: rc.ID, Action: domain.ReviewActionResolve, Actor: "alice", Reason: "name differs only by a diacritic",
				Result: domain.ResultOK, SecondActor: "carol", SecondReason: "checked the MRZ", Channel: domain.ReviewChannelAPI, At: t0.Add(3 * time.Second)},
		})
	})

	t.Run("a listed case holds only its frame's first bytes; the case read alone holds all", func(t *testing.T) {
		created := time.Date(1890, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rand.IntN(36e6)) * time.Minute)
		d, rc := newWaitDecision(domain.KindApproval, created)
		frame := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, make([]byte, 4096)...)
		rc.Evidence.Frame = frame
		_, _, err := store.SaveDecision(ctx, d, &rc)
		must(t, err)
		listed, err := cases.ListReviewCases(ctx, ports.ReviewFilter{CreatedBefore: created.Add(time.Second), Limit: 1000})
		must(t, err)
		found := false
		for _, c := range listed {
			if c.ID != rc.ID {
				continue
			}
			found = true
			if len(c.Evidence.Frame) > 8 || domain.ImageFormat(c.Evidence.Frame) != "jpeg" {
				t.Fatalf("listed frame: %d bytes, format %q; want at most 8 bytes telling jpeg", len(c.Evidence.Frame), domain.ImageFormat(c.Evidence.Frame))
			}
		}
		if !found {
			t.Fatalf("case %s not listed", rc.ID)
		}
		whole, err := cases.ReviewCase(ctx, rc.ID)
		must(t, err)
		if !bytes.Equal(whole.Evidence.Frame, frame) {
			t.Fatalf("the case read alone holds %d bytes of the frame, want all %d", len(whole.Evidence.Frame), len(frame))
		}
	})

	t.Run("list filters and pages oldest first", func(t *testing.T) {
		// The cases live in a random ten-second slot of 1900-1970 that no
		// other test uses; the cursor and CreatedBefore fence them in.
		base := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rand.IntN(36e6)) * time.Minute)
		dFence, fence := newWaitDecision(domain.KindApproval, base)
		_, _, err := store.SaveDecision(ctx, dFence, &fence)
		must(t, err)
		kinds := []domain.DecisionKind{domain.KindEvaluation, domain.KindApproval, domain.KindEvaluation, domain.KindEvaluation, domain.KindApproval}
		var ids []string
		for i, k := range kinds {
			d, rc := newWaitDecision(k, base.Add(time.Duration(i+1)*time.Second))
			_, _, err := store.SaveDecision(ctx, d, &rc)
			must(t, err)
			ids = append(ids, rc.ID)
		}
		_, err = cases.ClaimReviewCase(ctx, ids[1], "alice", "", base)
		must(t, err)
		_, err = cases.ResolveReviewCase(ctx, ports.ReviewResolution{CaseID: ids[2], Result: domain.ResultOK, Reviewer: "alice", At: base})
		must(t, err)
		before := base.Add(10 * time.Second)
		list := func(t *testing.T, f ports.ReviewFilter) []string {
			t.Helper()
			f.CreatedBefore = before
			if f.AfterID == "" {
				f.AfterID = fence.ID
			}
			got, err := cases.ListReviewCases(ctx, f)
			must(t, err)
			out := []string{}
			for _, c := range got {
				out = append(out, c.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    ports.ReviewFilter
			want []string
		}{
			{"all", ports.ReviewFilter{Limit: 50}, ids},
			{"open", ports.ReviewFilter{Status: domain.ReviewOpen, Limit: 50}, []string{ids[0], ids[3], ids[4]}},
			{"claimed", ports.ReviewFilter{Status: domain.ReviewClaimed, Limit: 50}, []string{ids[1]}},
			{"resolved", ports.ReviewFilter{Status: domain.ReviewResolved, Limit: 50}, []string{ids[2]}},
			{"approval", ports.ReviewFilter{Kind: domain.KindApproval, Limit: 50}, []string{ids[1], ids[4]}},
			{"open evaluation", ports.ReviewFilter{Status: domain.ReviewOpen, Kind: domain.KindEvaluation, Limit: 50}, []string{ids[0], ids[3]}},
			{"first page", ports.ReviewFilter{Limit: 2}, ids[:2]},
			{"second page", ports.ReviewFilter{AfterID: ids[1], Limit: 2}, ids[2:4]},
			{"last page", ports.ReviewFilter{AfterID: ids[3], Limit: 2}, ids[4:]},
			{"past the end", ports.ReviewFilter{AfterID: ids[4], Limit: 2}, []string{}},
			{"filtered page", ports.ReviewFilter{Kind: domain.KindEvaluation, AfterID: ids[0], Limit: 1}, ids[2:3]},
		} {
			t.Run(tc.name, func(t *testing.T) {
				same(t, "case ids", list(t, tc.f), tc.want)
			})
		}
		t.Run("created before", func(t *testing.T) {
			got, err := cases.ListReviewCases(ctx, ports.ReviewFilter{AfterID: fence.ID, CreatedBefore: base.Add(2500 * time.Millisecond), Limit: 50})
			must(t, err)
			if len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[1] {
				t.Fatalf("cases created before base+2.5s = %v, want %v", got, ids[:2])
			}
			if got[0].Status != domain.ReviewOpen || got[0].Kind != domain.KindEvaluation || !got[0].CreatedAt.Equal(base.Add(time.Second)) {
				t.Fatalf("listed case = %+v", got[0])
			}
		})
		t.Run("unknown cursor", func(t *testing.T) {
			_, err := cases.ListReviewCases(ctx, ports.ReviewFilter{AfterID: newUUID(), Limit: 10})
			wantCode(t, err, domain.CodeInvalid)
		})
	})
}

// newDecision returns a decision of a fresh process with rules, images and
// a score, as the services store them.
func newDecision(kind domain.DecisionKind, result domain.Result) domain.Decision {
	s := unique()
	score := 8.25
	d := domain.Decision{
		Kind: kind, ProcessID: "p-" + s, IdentityVerificationID: "iv-" + s, UserID: "u-" + s,
		Result: result, Score: &score,
		Rules: []domain.RuleResult{
			{Rule: "score", Outcome: domain.ResultOK},
			{Rule: "document.expiry", Outcome: result, Code: domain.ReasonDocumentExpired, Detail: "document expired on 2024-01-31"},
		},
		Images:        []domain.ImageDigest{{Kind: "FRAME", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Size: 48213}},
		CorrelationID: "corr-" + s, RequestID: "req-" + s, DecidedAt: now(),
	}
	if result == domain.ResultNOK {
		d.ReasonCode, d.ReasonText = domain.ReasonDocumentExpired, "document expired on 2024-01-31"
	}
	return d
}

// newWaitDecision returns a WAIT decision and the open review case it
// opens, created at createdAt, with every kind of evidence.
func newWaitDecision(kind domain.DecisionKind, createdAt time.Time) (domain.Decision, domain.ReviewCase) {
	d := newDecision(kind, domain.ResultWAIT)
	d.ReasonCode, d.ReasonText = domain.ReasonNameSimilar, "names differ slightly"
	d.DecidedAt = createdAt
	rc := domain.ReviewCase{
		ID: newUUID(), Kind: kind, ProcessID: d.ProcessID, IdentityVerificationID: d.IdentityVerificationID,
		UserID: d.UserID, Status: domain.ReviewOpen, ReasonCodes: []string{domain.ReasonNameSimilar},
		Answered: domain.ResultWAIT, CreatedAt: createdAt,
		Evidence: domain.ReviewEvidence{
			Documents: []domain.DocumentData{{
				Type: "ID_CARD", Status: "SUCCESS", GivenNames: "Jana", Surname: "Novakova",
				DateOfBirth: domain.MustDate("1985-04-12"), Nationality: "CZE", PersonalNumber: "8554121234",
				DocumentNumber: "123456789", DateOfIssue: domain.MustDate("2020-01-15"), DateOfExpiry: domain.MustDate("2030-01-15"),
			}},
			Registry: &domain.Client{UserID: d.UserID, ClientNumber: "1000001", BirthDate: domain.MustDate("1985-04-12"),
				GivenNames: "Jana", Surname: "Nováková", Status: domain.StatusActive},
			Frame: []byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3},
		},
	}
	d.ReviewCaseID = rc.ID
	return d, rc
}

// withDecision returns rc as a store reads it back: with the score and
// rule results of its decision d.
func withDecision(rc domain.ReviewCase, d domain.Decision) domain.ReviewCase {
	rc.Rules = d.Rules
	if d.Score != nil {
		v := *d.Score
		rc.Score = &v
	}
	return rc
}

func auditActions(trail []domain.ReviewAuditEntry) []string {
	out := []string{}
	for _, e := range trail {
		out = append(out, e.Action)
	}
	return out
}

func equalStrings(a, b []string) bool {
	return reflect.DeepEqual(a, b)
}

func sameDecision(t *testing.T, got, want domain.Decision) {
	t.Helper()
	got.DecidedAt, want.DecidedAt = utc(got.DecidedAt), utc(want.DecidedAt)
	same(t, "decision", got, want)
}

func sameCase(t *testing.T, got, want domain.ReviewCase) {
	t.Helper()
	for _, c := range []*domain.ReviewCase{&got, &want} {
		c.CreatedAt, c.ClaimedAt, c.ResolvedAt = utc(c.CreatedAt), utc(c.ClaimedAt), utc(c.ResolvedAt)
		c.Proposal.At = utc(c.Proposal.At)
	}
	same(t, "review case", got, want)
}
