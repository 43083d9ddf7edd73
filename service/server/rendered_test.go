package server

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
)

// What a handler hands over with SetRendered must be what the gateway
// would have sent for the message.
func TestJSONIsTheGatewaysRendering(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 11, 29, 3, 4, 5, 600, time.UTC))
	for _, m := range []proto.Message{
		&redpointv1.ResidentErrand{TrackingCode: "8YB6Q-YKHDA-G8F73", ErrandTypeDisplayName: "城乡居民医保缴费",
			State: redpointv1.ErrandState_ERRAND_STATE_NEEDS_MATERIALS, StateDisplayName: "待补正", AcceptTime: at,
			MissingMaterials: []string{"户口本", "银行卡"}, History: []*redpointv1.ResidentErrandStep{{Time: at, Text: "代办员已受理您的事项"}}},
		&redpointv1.ResidentErrand{},
	} {
		got, err := JSON(m)
		if err != nil {
			t.Fatal(err)
		}
		want, err := jsonMarshaler.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("JSON:\n%s\nthe gateway:\n%s", got, want)
		}
	}
}
