// Package browser drives the reviewer pages in a real headless Chromium
// (Debian's chromium package) through the Chrome DevTools protocol: it is
// the test of what a reviewer actually sees and clicks. It lives in its own
// package so only this test pays for chromedp.
//
// Without Chromium the test skips loudly; under CI=true it fails instead,
// so CI cannot pass by skipping (.ci/run installs chromium first).
// Screenshots go to test/output/browser/ (git-ignored), or to
// ONBOARDING_TEST_OUTPUT when set.
package browser

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/approval"
	"github.com/bankkit/onboarding-adapter/domain/evaluation"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/domain/review"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/transport/admin"
	httptransport "github.com/bankkit/onboarding-adapter/transport/http"
)

// chromium finds the browser: CHROMIUM_PATH, else Debian's chromium (or a
// Chrome) on PATH. It skips, or under CI=true fails, when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "\n\n" + strings.Repeat("*", 78) + "\n" +
		"*** Chromium is not installed (apt-get install -y chromium), or set CHROMIUM_PATH.\n" +
		"*** The browser test of the reviewer pages is SKIPPED.\n" +
		strings.Repeat("*", 78) + "\n"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "CI=true: failing instead of skipping.")
	}
	t.Skip(msg)
	return ""
}

// outputDir is where the screenshots go.
func outputDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ONBOARDING_TEST_OUTPUT")
	if dir == "" {
		dir = filepath.Join("..", "output")
	}
	dir = filepath.Join(dir, "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// frameJPEG is a presence-check frame: a face-coloured disc on grey.
func frameJPEG(t *testing.T) []byte {
	t.Helper()
	const w, h = 240, 180
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			c := color.RGBA{200, 204, 210, 255}
			if dx, dy := x-w/2, y-h/2; dx*dx+dy*dy*2 < 60*60 {
				c = color.RGBA{224, 172, 140, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const (
	reviewer = "alice"
	password = "alice-password-123"
)

// reviewSite serves the admin listener with the review pages over the real
// domain services on the memory adapters, and opens two cases the way the
// Onboarding Server does: a borderline presence check and a document whose
// surname differs by a typo.
func reviewSite(t *testing.T) (*httptest.Server, *memory.DecisionStore) {
	t.Helper()
	ctx := context.Background()
	clock, ids := memory.SystemClock{}, memory.NewRandomIDs()
	d, err := memory.NewDemo(clock, ids, memory.DefaultMaxRecords)
	if err != nil {
		t.Fatal(err)
	}
	pol := policy.Default()
	frame, err := domain.NewImage("FRAME", frameJPEG(t))
	if err != nil {
		t.Fatal(err)
	}
	score := 5.2
	dec, err := approval.New(d.Decisions, d.Registry, clock, ids, pol.Decision).Approve(ctx, ports.ApprovalRequest{
		ProcessID: "p-browser-1", UserID: "u-1000001", IdentityVerificationID: "iv-browser-1", Provider: "iProov",
		Status: "SUCCESS", Score: &score, Frame: &frame, Meta: domain.RequestMeta{CorrelationID: "c-1", RequestID: "r-1"},
	})
	if err != nil || dec.Result != domain.ResultWAIT {
		t.Fatalf("borderline approval: %+v %v", dec, err)
	}
	time.Sleep(10 * time.Millisecond) // the document case is the younger one
	high := 9.1
	dec, err = evaluation.New(d.Decisions, d.Registry, clock, ids, pol.Decision, pol.Evaluation).Evaluate(ctx, ports.EvaluationRequest{
		ProcessID: "p-browser-2", UserID: "u-1000001", IdentityVerificationID: "iv-browser-2", Provider: "ZenID",
		Status: "SUCCESS", Score: &high, HasDocumentCheck: true,
		Documents: []ports.DocumentInput{{Type: "ID_CARD", Status: "SUCCESS", Data: ports.DocumentFields{
			GivenNames: "JANA", Surname: "NOVAKOVAA", DateOfBirth: "1985-04-12", Nationality: "CZE",
			PersonalNumber: "855412/1234", DocumentNumber: "123456789", DateOfIssue: "2020-01-15", DateOfExpiry: "2099-01-15",
			Sex: "F", PlaceOfBirth: "PRAHA", Authority: "MěÚ Praha 1",
		}}},
		Meta: domain.RequestMeta{CorrelationID: "c-2", RequestID: "r-2"},
	})
	if err != nil || dec.Result != domain.ResultWAIT {
		t.Fatalf("evaluation with a similar surname: %+v %v", dec, err)
	}
	h, err := admin.NewHandler(review.New(d.Decisions, d.Decisions, clock, pol.Review), admin.Config{
		Users: []admin.User{{Name: reviewer, Password: password}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httptransport.NewAdminHandler(httptransport.AdminConfig{Extra: h.Routes()}))
	t.Cleanup(srv.Close)
	return srv, d.Decisions
}

// TestReviewerResolvesACase opens the queue, opens the oldest case, checks
// that its frame is shown, resolves it OK with a reason and sees the queue
// shrink by one, then opens the document case and finds the differing
// surname marked, saving a screenshot of each page.
func TestReviewerResolvesACase(t *testing.T) {
	exe := chromium(t)
	srv, store := reviewSite(t)
	out := outputDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	// The first call starts the browser and must not carry a deadline
	// (it would stop the browser); the steps after it each get one.
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("starting Chromium (%s): %v", exe, err)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(reviewer+":"+password))
	var before, after, caseTitle, notice, differs string
	var frameWidth int
	var queuePNG, casePNG, afterPNG, documentPNG []byte
	type step struct {
		name string
		run  func(ctx context.Context) error
	}
	steps := []step{
		{"open the queue", func(ctx context.Context) (err error) {
			if _, err = chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}}); err != nil {
				return err
			}
			if err = chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/review/"), chromedp.WaitVisible(chromedp.ID("case-count"))); err != nil {
				return err
			}
			if before, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("case-count"))); err != nil {
				return err
			}
			queuePNG, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			return err
		}},
		{"open the oldest case", func(ctx context.Context) (err error) {
			if _, err = chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("a.case-link")))); err != nil {
				return err
			}
			if err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("reason"))); err != nil {
				return err
			}
			if caseTitle, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1"))); err != nil {
				return err
			}
			if frameWidth, err = chromedp.Run(ctx, chromedp.Evaluate[int](`(document.querySelector("img.frame") || {naturalWidth: 0}).naturalWidth`)); err != nil {
				return err
			}
			casePNG, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			return err
		}},
		{"resolve it OK with a reason", func(ctx context.Context) (err error) {
			if err = chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("reason"), "Face matches the registry photo; the score was borderline only because of poor light.")); err != nil {
				return err
			}
			if _, err = chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.ID("resolve-ok")))); err != nil {
				return err
			}
			if err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".notice"))); err != nil {
				return err
			}
			if notice, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".notice"))); err != nil {
				return err
			}
			if after, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("case-count"))); err != nil {
				return err
			}
			afterPNG, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			return err
		}},
		{"open the document case", func(ctx context.Context) (err error) {
			if _, err = chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("a.case-link")))); err != nil {
				return err
			}
			if differs, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("td.match-differs"))); err != nil {
				return err
			}
			documentPNG, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			return err
		}},
	}
	var err error
	for _, st := range steps {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = st.run(sctx)
		cancel()
		if err != nil {
			err = fmt.Errorf("%s: %w", st.name, err)
			break
		}
	}
	for name, b := range map[string][]byte{"1-queue.png": queuePNG, "2-case.png": casePNG, "3-queue-after.png": afterPNG, "4-document-case.png": documentPNG} {
		if len(b) > 0 {
			p := filepath.Join(out, name)
			if werr := os.WriteFile(p, b, 0o644); werr != nil {
				t.Error(werr)
			}
			t.Logf("screenshot: %s", p)
		}
	}
	if err != nil {
		t.Fatalf("driving Chromium: %v", err)
	}
	if before != "2" || after != "1" {
		t.Fatalf("the queue went from %q to %q cases, want 2 to 1", before, after)
	}
	if frameWidth != 240 {
		t.Errorf("the presence-check frame shows %d pixels wide, want the 240 of the stored frame", frameWidth)
	}
	if !strings.Contains(differs, "NOVAKOVAA") {
		t.Errorf("the document case marks %q as differing, want the surname NOVAKOVAA", differs)
	}
	if !strings.Contains(notice, "is resolved") {
		t.Errorf("notice %q", notice)
	}
	// The oldest case is the presence check; it is resolved by the
	// authenticated reviewer with the reason typed.
	cases, err := store.ListReviewCases(context.Background(), ports.ReviewFilter{Status: domain.ReviewResolved, Limit: 10})
	if err != nil || len(cases) != 1 {
		t.Fatalf("resolved cases: %v %v", cases, err)
	}
	c := cases[0]
	if c.Kind != domain.KindApproval || c.Resolution != domain.ResultOK || c.ResolvedBy != reviewer ||
		!strings.HasPrefix(c.ResolutionReason, "Face matches") || !strings.Contains(caseTitle, c.ID) {
		t.Fatalf("resolved case %+v (page title %q)", c, caseTitle)
	}
	dec, err := store.Decision(context.Background(), domain.KindApproval, "p-browser-1", "iv-browser-1")
	if err != nil || dec.Result != domain.ResultOK {
		t.Fatalf("the decision after the resolution: %+v %v", dec, err)
	}
	fmt.Fprintf(os.Stderr, "browser test screenshots in %s\n", out)
}
