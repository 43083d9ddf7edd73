package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/attachment"
	"github.com/changzhi/redpoint/ent/auditentry"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/attachments"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/testutil"
)

// photo is a JPEG as a phone's camera writes it: the image, and an EXIF
// segment with GPS coordinates just after the start marker. clean is what
// the server must store: the same bytes without that segment.
func photo(t *testing.T, w, h int) (withGPS, clean []byte) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255}) //nolint:gosec // wraps on purpose
		}
	}
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	clean = enc.Bytes()
	// TIFF (little-endian): IFD0 with a GPSInfo pointer; the GPS IFD with
	// GPSLatitudeRef "N" and GPSLatitude 36°11'42".
	le := binary.LittleEndian
	tiff := []byte("II*\x00\x08\x00\x00\x00")
	entry := func(tag, typ uint16, count, value uint32) []byte {
		b := make([]byte, 12)
		le.PutUint16(b, tag)
		le.PutUint16(b[2:], typ)
		le.PutUint32(b[4:], count)
		le.PutUint32(b[8:], value)
		return b
	}
	// IFD0 at 8: 1 entry (2+12+4 = 18 bytes) → GPS IFD at 26: 2 entries
	// (2+24+4 = 30) → rationals at 56.
	tiff = append(tiff, 1, 0)
	tiff = append(tiff, entry(0x8825, 4, 1, 26)...)
	tiff = append(tiff, 0, 0, 0, 0)
	tiff = append(tiff, 2, 0)
	tiff = append(tiff, entry(0x0001, 2, 2, uint32('N'))...)
	tiff = append(tiff, entry(0x0002, 5, 3, 56)...)
	tiff = append(tiff, 0, 0, 0, 0)
	for _, r := range [][2]uint32{{36, 1}, {11, 1}, {42, 1}} {
		tiff = le.AppendUint32(tiff, r[0])
		tiff = le.AppendUint32(tiff, r[1])
	}
	app1 := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(app1)+2)) //nolint:gosec // small
	withGPS = append(append(append([]byte{}, clean[:2]...), append(seg, app1...)...), clean[2:]...)
	return withGPS, clean
}

// filesWorld is an errand of the 古韩镇 agent whose resident is
// demo.ResidentPhone.
type filesWorld struct {
	s       *apptest.Server
	keyring string // the server's PII keyring, in REDPOINT_PII_KEY's form
	errand  *ent.Errand
	name    string // errands/{id}
}

func newFilesWorld(t testing.TB) filesWorld {
	t.Helper()
	keyring := pii.NewKeyringString()
	keys, err := pii.ParseKeyring(keyring)
	if err != nil {
		t.Fatal(err)
	}
	s := apptest.Start(t, apptest.Options{Keys: keys, Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 400}})
	ctx := context.Background()
	db := s.App.Store.Client
	agent := db.User.Query().Where(user.Phone(demo.GuhanAgentPhone)).OnlyX(ctx)
	e := db.Errand.Query().Where(errand.ServicePointID(*agent.ServicePointID), errand.StateNEQ(errand.StateCANCELLED),
		errand.ResidentPhoneHash(s.App.Keys.Hash(pii.KindPhone, demo.ResidentPhone))).Order(ent.Asc(errand.FieldID)).FirstX(ctx)
	return filesWorld{s: s, keyring: keyring, errand: e, name: fmt.Sprintf("errands/%d", e.ID)}
}

// reserve asks for an upload URL as phone.
func (w filesWorld) reserve(t testing.TB, phone, kind, requestID string) (int, *redpointv1.AttachmentUpload, []byte) {
	t.Helper()
	code, body := w.s.Do(t, phone, "POST", "/v1/"+w.name+"/attachments:createUpload",
		map[string]any{"attachment": map[string]any{"kind": kind, "fileName": "回执.jpg"}, "requestId": requestID})
	up := &redpointv1.AttachmentUpload{}
	if code == http.StatusOK {
		if err := protojson.Unmarshal(body, up); err != nil {
			t.Fatal(err)
		}
	}
	return code, up, body
}

// put sends body to a signed URL, as a phone's upload would.
func (w filesWorld) put(t *testing.T, uri string, body []byte, contentType string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, w.s.BaseURL+uri, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return send(t, req)
}

func send(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func (w filesWorld) get(t *testing.T, uri string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.s.BaseURL+uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// upload reserves and uploads body as the 古韩镇 agent.
func (w filesWorld) upload(t *testing.T, kind string, body []byte) *redpointv1.Attachment {
	t.Helper()
	code, up, raw := w.reserve(t, demo.GuhanAgentPhone, kind, "")
	if code != http.StatusOK {
		t.Fatalf("createUpload: %d %s", code, raw)
	}
	code, raw = w.put(t, up.UploadUri, body, "")
	if code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, raw)
	}
	a := &redpointv1.Attachment{}
	if err := protojson.Unmarshal(raw, a); err != nil {
		t.Fatal(err)
	}
	return a
}

// bucket reads every object under attachments/.
func bucket(t *testing.T, s *apptest.Server) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	err := s.App.Objects.Walk(ctx, "attachments/", func(key string, _ time.Time, _ int64) error {
		key = "attachments/" + strings.TrimPrefix(key, "attachments/")
		r, err := s.App.Objects.Get(ctx, key)
		if err != nil {
			return err
		}
		defer func() { _ = r.Close() }()
		b, err := io.ReadAll(r)
		out[key] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAttachmentRoundTrip(t *testing.T) {
	w := newFilesWorld(t)
	ctx := context.Background()
	withGPS, clean := photo(t, 640, 480)

	code, up, raw := w.reserve(t, demo.GuhanAgentPhone, "ATTACHMENT_KIND_RECEIPT", "7d1c6a4e-0b1f-4c6e-9a51-2a1c3f0e9b01")
	if code != http.StatusOK || up.UploadUri == "" || up.Attachment.State != redpointv1.AttachmentState_ATTACHMENT_STATE_UPLOADING {
		t.Fatalf("createUpload: %d %s", code, raw)
	}
	code, raw = w.put(t, up.UploadUri, withGPS, "image/jpeg")
	if code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, raw)
	}
	a := &redpointv1.Attachment{}
	if err := protojson.Unmarshal(raw, a); err != nil {
		t.Fatal(err)
	}
	if a.State != redpointv1.AttachmentState_ATTACHMENT_STATE_READY || a.ContentType != "image/jpeg" || a.Width != 640 || a.Height != 480 ||
		a.SizeBytes != int64(len(clean)) || a.KindDisplayName != "回执" || a.DownloadUri == "" {
		t.Fatalf("uploaded: %v", a)
	}

	// The bytes come back as sent, less the EXIF segment and its GPS.
	code, got := w.get(t, a.DownloadUri)
	if code != http.StatusOK || !bytes.Equal(got, clean) {
		t.Fatalf("download: %d, %d bytes equal to the clean photo: %v", code, len(got), bytes.Equal(got, clean))
	}
	if bytes.Contains(got, []byte("Exif\x00\x00")) {
		t.Error("the download still has EXIF")
	}
	resp, err := http.Get(w.s.BaseURL + a.DownloadUri + "?download=1")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	for name, want := range map[string]string{"Content-Type": "image/jpeg", "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
		"Content-Disposition": "attachment; filename*=utf-8''%E5%9B%9E%E6%89%A7.jpg"} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
		t.Errorf("Content-Security-Policy %q has no sandbox", csp)
	}
	// HEAD answers the headers without reading, decrypting or auditing.
	head, err := http.Head(w.s.BaseURL + a.DownloadUri)
	if err != nil || head.StatusCode != http.StatusOK || head.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("HEAD: %v %v", head, err)
	}

	// The bucket holds no readable image.
	objs := bucket(t, w.s)
	if len(objs) == 0 {
		t.Fatal("nothing in the bucket")
	}
	for key, b := range objs {
		if bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) || bytes.Contains(b, clean[:64]) {
			t.Errorf("%s is readable in the bucket", key)
		}
	}
	row := w.s.App.Store.Client.Attachment.Query().Where(attachment.ErrandID(w.errand.ID)).OnlyX(ctx)
	if !strings.HasPrefix(row.SealedKey, w.s.App.Keys.CurrentKeyID()+":") {
		t.Errorf("data key sealed as %.8s…, want the keyring's current key", row.SealedKey)
	}

	// Retries: the same URL, the same request id, answer the same attachment.
	code, raw = w.put(t, up.UploadUri, withGPS, "image/jpeg")
	again := &redpointv1.Attachment{}
	if code != http.StatusOK || protojson.Unmarshal(raw, again) != nil || again.Name != a.Name {
		t.Errorf("second PUT: %d %s", code, raw)
	}
	if again.DownloadUri != "" {
		t.Error("a replayed upload URL handed out a download URL")
	}
	// An upload ticket opens no file.
	if code, body := w.get(t, strings.Replace(up.UploadUri, "/v1/uploads/", "/v1/files/", 1)); code != http.StatusForbidden || !strings.Contains(string(body), "URL_EXPIRED") {
		t.Errorf("an upload URL used to download: %d %s", code, body)
	}
	code, up2, _ := w.reserve(t, demo.GuhanAgentPhone, "ATTACHMENT_KIND_RECEIPT", "7d1c6a4e-0b1f-4c6e-9a51-2a1c3f0e9b01")
	if code != http.StatusOK || up2.Attachment.Name != a.Name || up2.UploadUri != "" {
		t.Errorf("retried createUpload: %d %v", code, up2)
	}
	if n := w.s.App.Store.Client.Attachment.Query().CountX(ctx); n != 1 {
		t.Errorf("%d attachment rows, want 1", n)
	}

	// Each download is on record, as an unmasked read by the agent: the
	// two GETs, not the HEAD.
	agent := w.s.App.Store.Client.User.Query().Where(user.Phone(demo.GuhanAgentPhone)).OnlyX(ctx)
	if n := w.s.App.Store.Client.AuditEntry.Query().Where(auditentry.Action(attachments.DownloadAction), auditentry.Resource(a.Name),
		auditentry.UnmaskedRead(true), auditentry.ActorUserID(agent.ID)).CountX(ctx); n != 2 {
		t.Errorf("%d download audit entries by the agent, want 2", n)
	}
	for _, action := range []string{attachments.UploadAction, "/redpoint.v1.AttachmentService/CreateAttachmentUpload"} {
		if n := w.s.App.Store.Client.AuditEntry.Query().Where(auditentry.Action(action), auditentry.Resource(a.Name)).CountX(ctx); n != 1 {
			t.Errorf("%d %s audit entries naming %s, want 1", n, action, a.Name)
		}
	}

	// The thumbnail job makes a 256-pixel JPEG from the outbox event.
	var thumb string
	testutil.Eventually(t, 20*time.Second, "a thumbnail", func() bool {
		_, body := w.s.Do(t, demo.GuhanAgentPhone, "GET", "/v1/"+a.Name, nil)
		got := &redpointv1.Attachment{}
		_ = protojson.Unmarshal(body, got)
		thumb = got.ThumbnailUri
		return thumb != ""
	})
	code, tb := w.get(t, thumb)
	if code != http.StatusOK {
		t.Fatalf("thumbnail: %d %s", code, tb)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(tb))
	if err != nil || cfg.Width != 256 || cfg.Height != 192 {
		t.Errorf("thumbnail %dx%d, %v; want 256x192", cfg.Width, cfg.Height, err)
	}

	// Key rotation: a keyring with a newer key still opens the data key
	// (the thumbnail is made again with it) and seals new keys with the
	// newer one.
	rotated, err := pii.ParseKeyring(rotate(w.keyring))
	if err != nil {
		t.Fatal(err)
	}
	w.s.App.Store.Client.Attachment.UpdateOneID(row.ID).SetThumbnailKey("").SetThumbnailSealedKey("").ExecX(ctx)
	files := attachments.New(attachments.Config{DB: w.s.App.Store.Client, Objects: w.s.App.Objects, Keys: rotated, URLKey: make([]byte, 32)})
	if err := files.Thumbnail(ctx, row.ID); err != nil {
		t.Fatal(err)
	}
	row = w.s.App.Store.Client.Attachment.GetX(ctx, row.ID)
	if row.ThumbnailKey == "" || !strings.HasPrefix(row.ThumbnailSealedKey, "k2:") {
		t.Errorf("after rotation: thumbnail %q sealed %.3s…", row.ThumbnailKey, row.ThumbnailSealedKey)
	}
}

// rotate is the keyring string of keys with a new current key "k2" before
// the old ones: what an operator deploys to rotate.
func rotate(keyring string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return strings.Replace(keyring, ",k1:", ",k2:"+base64.StdEncoding.EncodeToString(b)+",k1:", 1)
}

func TestAttachmentsWhoSeesWhat(t *testing.T) {
	w := newFilesWorld(t)
	withGPS, _ := photo(t, 64, 48)
	receipt := w.upload(t, "ATTACHMENT_KIND_RECEIPT", withGPS)
	material := w.upload(t, "ATTACHMENT_KIND_MATERIAL", withGPS)
	list := func(phone string) (int, *redpointv1.ListAttachmentsResponse) {
		code, body := w.s.Do(t, phone, "GET", "/v1/"+w.name+"/attachments", nil)
		out := &redpointv1.ListAttachmentsResponse{}
		if code == http.StatusOK {
			if err := protojson.Unmarshal(body, out); err != nil {
				t.Fatal(err)
			}
		}
		return code, out
	}
	for _, c := range []struct {
		who        string
		phone      string
		wantCode   int
		wantOpen   bool
		wantUpload int
	}{
		{"the point's agent", demo.GuhanAgentPhone, 200, true, 200},
		{"the village's secretary", demo.GuhanVillagePhone, 200, true, 403},
		{"the township's secretary", demo.GuhanSecretaryPhone, 200, true, 200},
		{"the county's admin", demo.CountyAdminPhone, 200, true, 403},
		{"the city's admin: the list, not the files", demo.CityAdminPhone, 200, false, 403},
		{"another township's secretary", demo.DanzhuSecretaryPhone, 403, false, 403},
		{"another township's agent", demo.DanzhuAgentPhone, 403, false, 403},
	} {
		t.Run(c.who, func(t *testing.T) {
			code, got := list(c.phone)
			if code != c.wantCode {
				t.Fatalf("list: %d, want %d", code, c.wantCode)
			}
			if code == 200 {
				if len(got.Attachments) != 2 {
					t.Fatalf("%d attachments, want 2", len(got.Attachments))
				}
				if open := got.Attachments[0].DownloadUri != ""; open != c.wantOpen {
					t.Errorf("download URL given: %v, want %v", open, c.wantOpen)
				}
			}
			if code, _, body := w.reserve(t, c.phone, "ATTACHMENT_KIND_RESULT", ""); code != c.wantUpload {
				t.Errorf("createUpload: %d, want %d: %s", code, c.wantUpload, body)
			}
		})
	}

	// The resident sees the receipt (and can open it), not the material.
	residents := redpointv1.NewResidentServiceClient(w.s.GRPC)
	me := residentCtx(t, w.s, "demo-files", demo.ResidentPhone)
	mine, err := residents.ListMyErrandAttachments(me, &redpointv1.ListMyErrandAttachmentsRequest{Parent: fmt.Sprintf("residents/me/errands/%d", w.errand.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine.Attachments) != 1 || !strings.HasSuffix(mine.Attachments[0].Name, strings.TrimPrefix(receipt.Name, w.name)) || mine.Attachments[0].Uploader != "" {
		t.Fatalf("the resident sees %v, want only the receipt (%s), not %s", mine.Attachments, receipt.Name, material.Name)
	}
	if code, _ := w.get(t, mine.Attachments[0].DownloadUri); code != http.StatusOK {
		t.Errorf("the resident's download: %d", code)
	}
	// Another resident finds nothing.
	other := residentCtx(t, w.s, "demo-files-2", "13900000099")
	if _, err := residents.ListMyErrandAttachments(other, &redpointv1.ListMyErrandAttachmentsRequest{Parent: fmt.Sprintf("residents/me/errands/%d", w.errand.ID)}); status.Code(err) != codes.NotFound {
		t.Errorf("another resident: %v, want NotFound", err)
	}

	// A forged or altered URL opens nothing.
	tampered := material.DownloadUri[:len(material.DownloadUri)-2] + "AA"
	if code, body := w.get(t, tampered); code != http.StatusForbidden || !strings.Contains(string(body), "URL_EXPIRED") {
		t.Errorf("a tampered URL: %d %s", code, body)
	}

	// Deleting needs a reason; a deleted file leaves the list and its URL.
	if code, _ := w.s.Do(t, demo.GuhanAgentPhone, "DELETE", "/v1/"+material.Name, nil); code != http.StatusBadRequest {
		t.Errorf("delete without a reason: %d", code)
	}
	if code, body := w.s.Do(t, demo.GuhanAgentPhone, "DELETE", "/v1/"+material.Name+"?reason=拍错了", nil); code != http.StatusOK {
		t.Fatalf("delete: %d %s", code, body)
	}
	if _, got := list(demo.GuhanAgentPhone); len(got.Attachments) != 1 {
		t.Errorf("after the delete the list has %d, want 1", len(got.Attachments))
	}
	if code, _ := w.get(t, material.DownloadUri); code != http.StatusBadRequest && code != http.StatusPreconditionFailed {
		t.Errorf("a deleted file's URL: %d, want refused", code)
	}
}

// residentCtx logs a resident in with a demo code and binds phone; it
// returns their call context.
func residentCtx(t *testing.T, s *apptest.Server, code, phone string) context.Context {
	t.Helper()
	residents := redpointv1.NewResidentServiceClient(s.GRPC)
	sess, err := residents.WechatLogin(context.Background(), &redpointv1.WechatLoginRequest{Code: code})
	if err != nil {
		t.Fatal(err)
	}
	me := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+sess.AccessToken)
	if _, err := residents.BindPhone(me, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + phone}); err != nil {
		t.Fatal(err)
	}
	return me
}

func TestAttachmentBadUploadsStoreNothing(t *testing.T) {
	w := newFilesWorld(t)
	ctx := context.Background()
	withGPS, _ := photo(t, 64, 48)
	_, up, _ := w.reserve(t, demo.GuhanAgentPhone, "ATTACHMENT_KIND_MATERIAL", "")
	big := make([]byte, 10<<20+1)
	copy(big, "%PDF-1.7\n")
	for _, c := range []struct {
		name, contentType string
		body              []byte
		field, text       string
	}{
		{"empty", "", nil, "content", "文件为空"},
		{"not a file we take", "", []byte("GIF89a not really"), "content", "只接受"},
		{"random bytes", "", bytes.Repeat([]byte{0x5a, 0x13}, 4096), "content", "只接受"},
		{"declared PNG, sent JPEG", "image/png", withGPS, "content_type", "文件内容却是 image/jpeg"},
		{"declared a type we don't take", "image/gif", withGPS, "content_type", "只接受"},
		{"a JPEG cut short", "", withGPS[:len(withGPS)/2], "content", "损坏"},
		{"over 10 MB", "", big, "content", "10 MB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := w.put(t, up.UploadUri, c.body, c.contentType)
			if code != http.StatusBadRequest || !strings.Contains(string(body), `"field":"`+c.field+`"`) || !strings.Contains(string(body), c.text) {
				t.Errorf("%d %s, want 400 on %s saying %q", code, body, c.field, c.text)
			}
		})
	}
	// A body past the limit sent without a length is cut off too.
	req, _ := http.NewRequest(http.MethodPut, w.s.BaseURL+up.UploadUri, io.MultiReader(bytes.NewReader(big), bytes.NewReader(big)))
	req.ContentLength = -1
	if code, body := send(t, req); code != http.StatusBadRequest {
		t.Errorf("chunked 20 MB: %d %s", code, body)
	}
	// Bad reservations.
	for _, c := range []struct{ name, kind, file, requestID, field string }{
		{"no kind", "", "a.jpg", "", "attachment.kind"},
		{"a path for a name", "ATTACHMENT_KIND_RECEIPT", "../../etc/passwd", "", "attachment.file_name"},
		{"a right-to-left override in the name", "ATTACHMENT_KIND_RECEIPT", "x\u202egpj.exe", "", "attachment.file_name"},
		{"a request id past 64 characters", "ATTACHMENT_KIND_RECEIPT", "a.jpg", strings.Repeat("a", 65), "request_id"},
	} {
		a := map[string]any{"fileName": c.file}
		if c.kind != "" {
			a["kind"] = c.kind
		}
		code, body := w.s.Do(t, demo.GuhanAgentPhone, "POST", "/v1/"+w.name+"/attachments:createUpload", map[string]any{"attachment": a, "requestId": c.requestID})
		if code != http.StatusBadRequest || !strings.Contains(string(body), c.field) {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
	}
	if objs := bucket(t, w.s); len(objs) != 0 {
		t.Errorf("refused uploads left %d objects", len(objs))
	}
	if a := w.s.App.Store.Client.Attachment.GetX(ctx, attachmentID(t, up.Attachment.Name)); a.State != attachment.StateUPLOADING {
		t.Errorf("the refused attachment is %s", a.State)
	}
	// The URL still takes a good upload afterwards.
	if code, body := w.put(t, up.UploadUri, withGPS, ""); code != http.StatusOK {
		t.Errorf("a good upload after refusals: %d %s", code, body)
	}
}

func attachmentID(t *testing.T, name string) int {
	t.Helper()
	var e, a int
	if _, err := fmt.Sscanf(name, "errands/%d/attachments/%d", &e, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestInterruptedUploadLeavesNothing hangs up halfway through a body: no
// object, no READY row, no spool file.
func TestInterruptedUploadLeavesNothing(t *testing.T) {
	spool := t.TempDir()
	w := newFilesWorldSpool(t, spool)
	_, up, _ := w.reserve(t, demo.GuhanAgentPhone, "ATTACHMENT_KIND_MATERIAL", "")
	conn, err := net.Dial("tcp", strings.TrimPrefix(w.s.BaseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	half := make([]byte, 1<<20)
	copy(half, "%PDF-1.7\n")
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", up.UploadUri, 2<<20)
	if _, err := conn.Write(half); err != nil {
		t.Fatal(err)
	}
	spoolFiles := func() int {
		entries, _ := os.ReadDir(spool)
		n := 0
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "redpoint-upload-") {
				n++
			}
		}
		return n
	}
	testutil.Eventually(t, 10*time.Second, "the upload to be spooling", func() bool { return spoolFiles() == 1 })
	_ = conn.Close()
	testutil.Eventually(t, 10*time.Second, "the spool file to go", func() bool { return spoolFiles() == 0 })
	if objs := bucket(t, w.s); len(objs) != 0 {
		t.Errorf("an interrupted upload left %d objects", len(objs))
	}
	if a := w.s.App.Store.Client.Attachment.GetX(context.Background(), attachmentID(t, up.Attachment.Name)); a.State != attachment.StateUPLOADING {
		t.Errorf("the interrupted attachment is %s", a.State)
	}
}

func newFilesWorldSpool(t *testing.T, spool string) filesWorld {
	t.Helper()
	t.Setenv("TMPDIR", spool) // the spool is the system's temporary directory
	return newFilesWorld(t)
}

func TestAttachmentPurgeAndSweep(t *testing.T) {
	w := newFilesWorld(t)
	ctx := context.Background()
	db := w.s.App.Store.Client
	withGPS, _ := photo(t, 64, 48)
	// An errand of the point closed long ago, with a material and a receipt.
	old := db.Errand.Query().Where(errand.ServicePointID(w.errand.ServicePointID), errand.StateEQ(errand.StateCOMPLETED)).
		Order(ent.Asc(errand.FieldID)).FirstX(ctx)
	db.Errand.UpdateOneID(old.ID).SetCloseTime(time.Now().Add(-40 * 24 * time.Hour)).ExecX(ctx)
	w.name = fmt.Sprintf("errands/%d", old.ID)
	material := w.upload(t, "ATTACHMENT_KIND_MATERIAL", withGPS)
	receipt := w.upload(t, "ATTACHMENT_KIND_RECEIPT", withGPS)
	open := db.Errand.Query().Where(errand.ServicePointID(w.errand.ServicePointID), errand.CloseTimeIsNil()).Order(ent.Asc(errand.FieldID)).FirstX(ctx)
	fresh := newFilesWorldOn(w, open)
	recent := fresh.upload(t, "ATTACHMENT_KIND_MATERIAL", withGPS)
	// The thumbnail jobs run in the background: wait for them, so that no
	// thumbnail is between its object and its row when everything is swept.
	testutil.Eventually(t, 20*time.Second, "the thumbnails", func() bool {
		return db.Attachment.Query().Where(attachment.ThumbnailKey("")).CountX(ctx) == 0
	})
	// An object no row names, as a crash between store and commit leaves.
	if err := w.s.App.Objects.Put(ctx, "attachments/999999/original-crashed", bytes.NewReader([]byte("sealed")), 6); err != nil {
		t.Fatal(err)
	}
	files := w.s.App.Background().Attachments()
	res, err := files.Purge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Purged != 1 {
		t.Errorf("purged %d, want 1 (the old material)", res.Purged)
	}
	state := func(name string) attachment.State { return db.Attachment.GetX(ctx, attachmentID(t, name)).State }
	if state(material.Name) != attachment.StatePURGED || state(receipt.Name) != attachment.StateREADY || state(recent.Name) != attachment.StateREADY {
		t.Errorf("states: old material %s, old receipt %s, recent material %s", state(material.Name), state(receipt.Name), state(recent.Name))
	}
	if code, _ := w.get(t, material.DownloadUri); code == http.StatusOK {
		t.Error("a purged material still downloads")
	}
	// The orphan is younger than OrphanAge: the daily sweep leaves it; a
	// sweep of everything removes it and nothing a row names.
	if _, ok := bucket(t, w.s)["attachments/999999/original-crashed"]; !ok {
		t.Error("the daily sweep removed a fresh object")
	}
	n, err := files.Sweep(ctx, 0)
	if err != nil || n != 1 {
		t.Errorf("sweep removed %d, %v; want 1", n, err)
	}
	if _, ok := bucket(t, w.s)["attachments/999999/original-crashed"]; ok {
		t.Error("the orphan is still there")
	}
	if code, _ := w.get(t, receipt.DownloadUri); code != http.StatusOK {
		t.Errorf("the kept receipt after the sweep: %d", code)
	}
}

func newFilesWorldOn(w filesWorld, e *ent.Errand) filesWorld {
	return filesWorld{s: w.s, keyring: w.keyring, errand: e, name: fmt.Sprintf("errands/%d", e.ID)}
}

// TestUploadMemory measures what a 10 MB upload costs the server in
// allocations: the body streams through (spooled sealed to disk), it is
// never held whole.
func TestUploadMemory(t *testing.T) {
	w := newFilesWorld(t)
	body := make([]byte, 10<<20-1024)
	_, _ = rand.Read(body)
	copy(body, "%PDF-1.7\n")
	_, up, _ := w.reserve(t, demo.GuhanAgentPhone, "ATTACHMENT_KIND_MATERIAL", "")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	code, raw := w.put(t, up.UploadUri, body, "application/pdf")
	runtime.ReadMemStats(&after)
	if code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, raw)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a 10 MB upload allocated %.2f MB in the whole process (client, server, background)", float64(alloc)/(1<<20))
	if alloc > 8<<20 {
		t.Errorf("a 10 MB upload allocated %d bytes: the body is being held", alloc)
	}
}

// BenchmarkUpload10MB puts a 10 MB PDF through the whole upload (clean,
// seal, spool, store, commit) beside a baseline: the same PUT to a bare
// handler that reads the body and drops it. The ratio of the two is what
// the upload adds to moving the bytes.
func BenchmarkUpload10MB(b *testing.B) {
	body := make([]byte, 10<<20-1024)
	_, _ = rand.Read(body)
	copy(body, "%PDF-1.7\n")
	put := func(b *testing.B, url string) {
		req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("PUT: %d", resp.StatusCode)
		}
	}
	b.Run("baseline", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
		defer srv.Close()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			put(b, srv.URL)
		}
	})
	b.Run("redpoint", func(b *testing.B) {
		w := newFilesWorld(b)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			code, up, raw := w.reserve(b, demo.GuhanAgentPhone, "ATTACHMENT_KIND_MATERIAL", "")
			if code != http.StatusOK {
				b.Fatalf("createUpload: %d %s", code, raw)
			}
			b.StartTimer()
			put(b, w.s.BaseURL+up.UploadUri)
		}
	})
}
