// Package admin serves the manual review of WAIT cases on the admin
// listener: a JSON API under /admin/api/review/ for scripts and tools, and
// server-rendered reviewer pages under /review/ (html/template, one small
// CSS file, no JavaScript), both over the review service
// (ports.ReviewService).
//
// Reviewers authenticate with HTTP Basic credentials of their own, never
// the API's: the authenticated user name is the reviewer recorded on every
// claim, proposal and resolution, so it cannot be typed in. A name that
// has failed Config.LoginFailures sign-ins from one address is refused
// there (429) until a failure is forgiven (one every Config.LoginRefill),
// so a password cannot be guessed at the speed of the network.
// State-changing
// requests are guarded twice: every form carries a CSRF token (an HMAC
// bound to the reviewer and its issue time, keyed by a secret derived from
// the reviewer's credential, so any replica verifies it) and
// http.CrossOriginProtection refuses cross-origin browser requests. The API
// takes only application/json bodies, which a cross-site form cannot send.
// Every answer is no-store and carries a strict Content-Security-Policy,
// nosniff and no-referrer; personal data (document data, the registry
// record, the presence-check frame) is shown only on a case's own page and
// never in the queue.
package admin
