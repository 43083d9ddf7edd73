package resident_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/changzhi/redpoint/ent/processedevent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/resident"
	"github.com/changzhi/redpoint/service/server"
	"github.com/changzhi/redpoint/service/testutil"
	"github.com/changzhi/redpoint/service/trackingcode"
)

func TestPublicLookup(t *testing.T) {
	limits := func(a *app.Options) {
		a.LookupLimits = resident.LookupLimits{PerIP: 1000, PerCode: 1000, Window: time.Minute}
	}
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 50}, Configure: limits})
	ctx := context.Background()
	agent := s.As(t, ctx, demo.GuhanAgentPhone)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	x := logErrand(t, s, agent, "lk-1", "李四", "13912348765")
	lookup := func(code, digits string) (int, []byte) {
		return s.Do(t, "", http.MethodPost, "/v1/errands:lookup", map[string]string{"trackingCode": code, "phoneLast4": digits})
	}
	code, body := lookup(x.TrackingCode, "8765")
	if code != 200 {
		t.Fatalf("right code and digits: %d %s", code, body)
	}
	// The second answer comes from the replica's memory, rendered once:
	// both are the gRPC answer, rendered. (That JSON renders as the
	// gateway would is TestJSONIsTheGatewaysRendering.)
	viaGRPC, err := redpointv1.NewResidentServiceClient(s.GRPC).LookupErrand(ctx, &redpointv1.LookupErrandRequest{TrackingCode: x.TrackingCode, PhoneLast4: "8765"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := server.JSON(viaGRPC)
	if err != nil {
		t.Fatal(err)
	}
	_, again := lookup(x.TrackingCode, "8765")
	if string(body) != string(want) || string(again) != string(want) {
		t.Errorf("REST answers\n%s\n%s\nwant the gRPC answer rendered\n%s", body, again, want)
	}
	if !isCompact(body) {
		t.Errorf("answer is not compact JSON: %s", body)
	}
	// Operators see where answers come from: the first from the database,
	// the next two from memory.
	if m := s.Metric(t, `redpoint_lookup_answers_total{source="database"}`); m != 1 {
		t.Errorf("answers from the database: %v, want 1", m)
	}
	if m := s.Metric(t, `redpoint_lookup_answers_total{source="memory"}`); m != 2 {
		t.Errorf("answers from memory: %v, want 2", m)
	}
	// Wrong digits and an unknown code answer byte for byte the same.
	c1, b1 := lookup(x.TrackingCode, "0000")
	c2, b2 := lookup("7KQ9M-2XAP4-TB8QZ", "8765")
	c3, b3 := lookup("not-a-code", "8765")
	if c1 != 404 || c1 != c2 || c2 != c3 || string(b1) != string(b2) || string(b2) != string(b3) {
		t.Errorf("wrong digits %d %s / unknown code %d %s / malformed %d %s", c1, b1, c2, b2, c3, b3)
	}
	if !isCompact(b1) {
		t.Errorf("error is not compact JSON: %s", b1)
	}
	// The cached answer is dropped on every change: right after :complete, the lookup says so.
	if _, err := errands.CompleteErrand(agent, &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "已缴费"}); err != nil {
		t.Fatal(err)
	}
	var got redpointv1.ResidentErrand
	_, body = lookup(x.TrackingCode, "8765")
	if err := protojsonUnmarshal(body, &got); err != nil || got.StateDisplayName != "已办结" {
		t.Errorf("lookup right after :complete: %s (%v)", body, err)
	}
	// The resident's rating shows in the lookup right away (its proto
	// promises it), the cached answer dropped as for any change.
	residents := redpointv1.NewResidentServiceClient(s.GRPC)
	sess, err := residents.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-lookup-rater"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := residents.BindPhone(bearer(sess.GetAccessToken()), &redpointv1.BindPhoneRequest{PhoneCode: "phone-13912348765"}); err != nil {
		t.Fatal(err)
	}
	mine := "residents/me/errands/" + strings.TrimPrefix(x.Name, "errands/")
	if _, err := residents.RateMyErrand(bearer(sess.GetAccessToken()), &redpointv1.RateMyErrandRequest{Name: mine, Level: redpointv1.RatingLevel_RATING_LEVEL_SATISFIED}); err != nil {
		t.Fatal(err)
	}
	_, body = lookup(x.TrackingCode, "8765")
	if err := protojsonUnmarshal(body, &got); err != nil || got.Rating != redpointv1.RatingLevel_RATING_LEVEL_SATISFIED {
		t.Errorf("lookup right after the rating: %s (%v)", body, err)
	}
	// The outbox invalidates each change again, in case the direct call was lost.
	testutil.EventuallyNoError(t, 20*time.Second, "the outbox invalidated both changes (created, completed)", func() error {
		n, err := s.App.Store.Client.ProcessedEvent.Query().Where(processedevent.Handler("lookup-invalidate")).Count(ctx)
		if err != nil {
			return err
		}
		if n < 2 {
			return fmt.Errorf("invalidated %d", n)
		}
		return nil
	})
}

// A change on one replica reaches the lookups another replica answers from
// its memory well before that memory would expire.
func TestLookupSeesChangesOnOtherReplicas(t *testing.T) {
	limits := func(a *app.Options) {
		a.LookupLimits = resident.LookupLimits{PerIP: 1000, PerCode: 1000, Window: time.Minute}
	}
	a := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20}, Configure: limits})
	b := apptest.Join(t, a, limits)
	ctx := context.Background()
	agent := a.As(t, ctx, demo.GuhanAgentPhone)
	errands := redpointv1.NewErrandServiceClient(a.GRPC)
	x := logErrand(t, a, agent, "lk-2", "李四", "13912348765")
	state := func() string {
		var got redpointv1.ResidentErrand
		code, body := b.Do(t, "", http.MethodPost, "/v1/errands:lookup", map[string]string{"trackingCode": x.TrackingCode, "phoneLast4": "8765"})
		if err := protojsonUnmarshal(body, &got); code != 200 || err != nil {
			t.Fatalf("%d %s: %v", code, body, err)
		}
		return got.StateDisplayName
	}
	if got := state(); got != "已受理" {
		t.Fatalf("lookup on the second replica: %s", got)
	}
	if _, err := errands.CompleteErrand(agent, &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "已缴费"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, resident.LocalTTL/3, "the second replica answers 已办结 after :complete on the first", func() bool { return state() == "已办结" })
}

func TestLookupRateLimitAcrossReplicas(t *testing.T) {
	limits := func(a *app.Options) {
		// A day-long window: fixed windows start on the clock (the minute, the day), and a test that straddled a minute would see its count start again.
		a.LookupLimits = resident.LookupLimits{PerIP: 1000, PerCode: 4, Window: 24 * time.Hour}
	}
	a := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20}, Configure: limits})
	b := apptest.Join(t, a, limits)
	unknown, err := trackingcode.New(nil) // well formed, never issued
	if err != nil {
		t.Fatal(err)
	}
	codes := []int{}
	for i, s := range []*apptest.Server{a, b, a, b, a} {
		c, _ := s.Do(t, "", http.MethodPost, "/v1/errands:lookup", map[string]string{"trackingCode": unknown, "phoneLast4": "000" + string(rune('0'+i))})
		codes = append(codes, c)
	}
	want := []int{404, 404, 404, 404, 429}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("lookups of one code on two replicas: %v, want %v", codes, want)
		}
	}
}

// Bursts of lookups of one code, spread over two replicas, get exactly the
// code's limit a minute, and a day, every time.
func TestLookupCodeLimitsExactUnderBurst(t *testing.T) {
	const goroutines, bursts = 10, 3
	cases := []struct {
		name   string
		limits resident.LookupLimits
		want   int
	}{
		// A day-long window: fixed windows start on the clock (the minute, the day), and a test that straddled a minute would see its count start again.
		{"per window", resident.LookupLimits{PerIP: 1000, PerCode: 10, Window: 24 * time.Hour}, 10},
		{"per day", resident.LookupLimits{PerIP: 1000, PerCode: 1000, Window: time.Minute, PerCodePerDay: 7}, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limits := func(a *app.Options) { a.LookupLimits = tc.limits }
			a := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20}, Configure: limits})
			b := apptest.Join(t, a, limits)
			for burst := 0; burst < bursts; burst++ {
				code, err := trackingcode.New(nil) // well formed, never issued
				if err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				got := map[int]int{}
				var wg sync.WaitGroup
				start := make(chan struct{})
				for _, s := range []*apptest.Server{a, b} {
					for g := 0; g < goroutines; g++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							<-start
							c, _ := s.Do(t, "", http.MethodPost, "/v1/errands:lookup", map[string]string{"trackingCode": code, "phoneLast4": fmt.Sprintf("%04d", g)})
							mu.Lock()
							got[c]++
							mu.Unlock()
						}()
					}
				}
				close(start)
				wg.Wait()
				if got[http.StatusNotFound] != tc.want || got[http.StatusTooManyRequests] != 2*goroutines-tc.want {
					t.Errorf("burst %d of %d lookups of one code on two replicas: %v, want %d answered and the rest refused",
						burst+1, 2*goroutines, got, tc.want)
				}
			}
		})
	}
}

// The per-address limit counts an IPv6 client by its /64: walking through
// the addresses of one's own /64 gets no more lookups.
func TestLookupAddressLimitPerIPv6Slash64(t *testing.T) {
	limits := func(a *app.Options) {
		// A day-long window: fixed windows start on the clock (the minute, the day), and a test that straddled a minute would see its count start again.
		a.LookupLimits = resident.LookupLimits{PerIP: 2, PerCode: 1000, Window: 24 * time.Hour}
		a.TrustedProxies = 1 // the load balancer's X-Forwarded-For names the client
	}
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20}, Configure: limits})
	code, err := trackingcode.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	lookupFrom := func(addr string) int {
		body := `{"trackingCode":"` + code + `","phoneLast4":"0000"}`
		req, err := http.NewRequest(http.MethodPost, s.BaseURL+"/v1/errands:lookup", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", addr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	got := []int{lookupFrom("2001:db8:1:2::1"), lookupFrom("2001:db8:1:2::2"), lookupFrom("2001:db8:1:2:ffff::3"),
		lookupFrom("2001:db8:1:3::1"), lookupFrom("203.0.113.7"), lookupFrom("::ffff:203.0.113.7"), lookupFrom("203.0.113.7")}
	if want := []int{404, 404, 429, 404, 404, 404, 429}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lookups from three addresses of one /64, one of the next, and an IPv4 address plain and mapped: %v, want %v", got, want)
	}
}

func protojsonUnmarshal(b []byte, m *redpointv1.ResidentErrand) error {
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
}

func isCompact(b []byte) bool {
	var out bytes.Buffer
	return json.Compact(&out, b) == nil && out.String() == string(b)
}

// A code is looked up at most PerCodePerDay times a day, however the
// lookups are spread over minutes, addresses and replicas.
func TestLookupDailyLimitPerCode(t *testing.T) {
	limits := func(a *app.Options) {
		a.LookupLimits = resident.LookupLimits{PerIP: 1000, PerCode: 1000, Window: time.Minute, PerCodePerDay: 3}
	}
	a := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20}, Configure: limits})
	b := apptest.Join(t, a, limits)
	guessed, err := trackingcode.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := trackingcode.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(s *apptest.Server, code, digits string) int {
		c, _ := s.Do(t, "", http.MethodPost, "/v1/errands:lookup", map[string]string{"trackingCode": code, "phoneLast4": digits})
		return c
	}
	got := []int{lookup(a, guessed, "0001"), lookup(b, guessed, "0002"), lookup(a, guessed, "0003"), lookup(b, guessed, "0004")}
	if want := []int{404, 404, 404, 429}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("four guesses at one code: %v, want %v", got, want)
	}
	if c := lookup(a, other, "0001"); c != 404 {
		t.Errorf("another code after that: %d, want 404", c)
	}
}
