package errands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/testutil"
)

// seededNow anchors the demo data; tests run their own clock from it.
var seededNow = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC) // 10:00 Asia/Shanghai, a Wednesday

// env is a demo server with a settable clock and a client.
type env struct {
	*apptest.Server
	tb     testing.TB
	client redpointv1.ErrandServiceClient
	clock  *testutil.Clock
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{tb: t, clock: testutil.NewClock(seededNow)}
	_, bench := t.(*testing.B)
	e.Server = apptest.Start(t, apptest.Options{
		Demo:  &demo.Options{Now: seededNow, Errands: 200},
		Clock: e.clock.Now,
		// Benchmarks measure the API path alone; the jobs each change
		// causes run in `redpoint worker` in a scaled deployment.
		Configure: func(a *app.Options) { a.NoWorkers = bench },
	})
	e.client = redpointv1.NewErrandServiceClient(e.GRPC)
	return e
}

// agent is the 古韩镇 demo agent's context.
func (e *env) agent() context.Context { return e.as(demo.GuhanAgentPhone) }

// as is the context of the demo account with phone.
func (e *env) as(phone string) context.Context {
	return e.As(e.tb, context.Background(), phone)
}

var reqSeq atomic.Int64

func requestID() string { return fmt.Sprintf("req-%d-%d", time.Now().UnixNano(), reqSeq.Add(1)) }

func validErrand() *redpointv1.Errand {
	return &redpointv1.Errand{
		ErrandType:       "errandTypes/SI-PENSION-CERT",
		ResidentName:     "申秀英",
		ResidentPhone:    "13912345678",
		ResidentIdNumber: "140423195603120029",
		Description:      "代办养老保险资格认证",
		Materials:        []string{"居民身份证"},
		Channel:          redpointv1.ErrandChannel_ERRAND_CHANNEL_WALK_IN,
	}
}

func (e *env) create(t testing.TB) *redpointv1.Errand {
	t.Helper()
	out, err := e.client.CreateErrand(e.agent(), &redpointv1.CreateErrandRequest{Errand: validErrand(), RequestId: requestID()})
	if err != nil {
		t.Fatalf("CreateErrand: %v", err)
	}
	return out
}

// reason returns a status's ErrorInfo reason and its field violations.
func reason(err error) (codes.Code, string, []string) {
	st := status.Convert(err)
	var r string
	var fields []string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			r = d.Reason
		case *errdetails.BadRequest:
			for _, v := range d.FieldViolations {
				fields = append(fields, v.Field)
			}
		}
	}
	return st.Code(), r, fields
}

// restError decodes the gateway's error body.
type restError struct {
	Code    int
	Message string
	Details []json.RawMessage
}

func decodeREST(t testing.TB, body []byte) (reasonOut string, fields []string) {
	t.Helper()
	var re restError
	if err := json.Unmarshal(body, &re); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	for _, d := range re.Details {
		var m struct {
			Type            string `json:"@type"`
			Reason          string
			FieldViolations []struct{ Field string }
		}
		if err := json.Unmarshal(d, &m); err != nil {
			t.Fatalf("error detail %s: %v", d, err)
		}
		if m.Reason != "" {
			reasonOut = m.Reason
		}
		for _, f := range m.FieldViolations {
			fields = append(fields, f.Field)
		}
	}
	return reasonOut, fields
}
