package errands

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/errandevent"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/audit"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/resname"
)

// change is one write to an errand inside a transaction: it sets the
// method's own fields on u, and returns the history note and event kind.
type change func(u *ent.ErrandUpdateOne, e *ent.Errand, cal *calendar.Calendar, now time.Time) (note string, err error)

// write runs one errand change exactly once per request_id: with the
// caller's scope and the etag checked, it writes the errand, a history
// event and an outbox event in one transaction.
func (s *Server) write(ctx context.Context, method, name, etag, requestID string, req proto.Message,
	kind errandevent.Kind, to func(from errand.State) (errand.State, error), apply change) (*redpointv1.Errand, error) {
	p, err := agent(ctx)
	if err != nil {
		return nil, err
	}
	cal, err := s.calendar.Get(ctx)
	if err != nil {
		return nil, err
	}
	hashed := proto.Clone(req)
	clearRequestID(hashed)
	out := &redpointv1.Errand{}
	var before, after *ent.Errand // the row on each side of the change, unless replayed
	_, err = s.idem.Do(ctx, method, p.UserID, requestID, hashed, out, func(ctx context.Context, tx *ent.Tx) (proto.Message, error) {
		// Taking the change number first serializes writers, so the read
		// below sees the latest committed version.
		seq, err := nextSeq(ctx, tx, s.dialect)
		if err != nil {
			return nil, err
		}
		e, err := s.load(ctx, tx.Client(), p, "name", name)
		if err != nil {
			return nil, err
		}
		if err := resname.CheckEtag(etag, e.Version); err != nil {
			return nil, err
		}
		next, err := to(e.State)
		if err != nil {
			return nil, err
		}
		now := s.clock()
		u := tx.Errand.UpdateOneID(e.ID).SetState(next)
		note, err := apply(u, e, cal, now)
		if err != nil {
			return nil, err
		}
		entry := historyEntry{kind: kind, note: note}
		change := outbox.ErrandUpdated
		if kind == errandevent.KindTRANSITIONED {
			entry.from, entry.to, change = e.State, next, outbox.ErrandTransitioned
		}
		updated, _, err := commitChange(ctx, tx, e, u, now, errandChange{
			seq: seq, actor: errandevent.ActorKindSTAFF, staffID: &p.UserID, method: method, kind: change,
			history: []historyEntry{entry},
		})
		if err != nil {
			return nil, err
		}
		before, after = e, updated
		return s.view(ctx, tx.Client(), updated, cal, now, false)
	})
	if err != nil {
		return nil, err
	}
	s.committed(ctx, out.TrackingCode, before, after)
	return out, nil
}

// historyEntry is one history event of a change.
type historyEntry struct {
	kind     errandevent.Kind
	from, to errand.State // a state change's states; empty otherwise
	note     string
}

// errandChange is one write to an errand inside a transaction, after its
// change number seq was taken: who made it, its history and its outbox
// event.
type errandChange struct {
	seq     int64
	actor   errandevent.ActorKind
	staffID *int // the acting staff member; nil for a resident
	method  string
	kind    outbox.ErrandKind
	history []historyEntry // one or more; the outbox event names the last
	// reopened: the change undoes e's completion, and its event says which
	// (the leaderboard withdraws it).
	reopened bool
}

// commitChange saves c to e inside tx: u (the change's own fields) with
// the version checked and bumped and the change number set (a version
// that moved is ETAG_MISMATCH), the history entries, the outbox event and
// the audit line. It returns the errand as saved and the last entry.
func commitChange(ctx context.Context, tx *ent.Tx, e *ent.Errand, u *ent.ErrandUpdateOne, now time.Time, c errandChange) (*ent.Errand, *ent.ErrandEvent, error) {
	wrap := func(err error) error { return fmt.Errorf("%s: %w", c.method, err) }
	updated, err := u.Where(errand.Version(e.Version)).SetVersion(e.Version + 1).SetUpdateTime(now).SetChangeSeq(c.seq).Save(ctx)
	if ent.IsNotFound(err) {
		return nil, nil, apierr.ErrEtagMismatch
	}
	if err != nil {
		return nil, nil, wrap(err)
	}
	var last *ent.ErrandEvent
	for _, h := range c.history {
		ev := tx.ErrandEvent.Create().SetErrandID(e.ID).SetKind(h.kind).SetActorKind(c.actor).SetNote(h.note).SetCreateTime(now)
		if c.staffID != nil {
			ev.SetActorUserID(*c.staffID)
		}
		if h.from != "" {
			ev.SetFromState(string(h.from)).SetToState(string(h.to))
		}
		if last, err = ev.Save(ctx); err != nil {
			return nil, nil, wrap(err)
		}
	}
	event := outbox.NewErrandChange(c.kind, updated, last.ID, e.State, c.method, last.Note)
	if c.reopened {
		event = outbox.NewErrandReopened(updated, last.ID, e, c.method, last.Note)
	}
	if err := outbox.Publish(ctx, tx, now, event); err != nil {
		return nil, nil, err
	}
	if err := audit.InTx(ctx, tx, resname.Name(resname.Errands, e.ID), e.RegionID); err != nil {
		return nil, nil, err
	}
	return updated, last, nil
}

func clearRequestID(m proto.Message) {
	fd := m.ProtoReflect().Descriptor().Fields().ByName("request_id")
	if fd != nil {
		m.ProtoReflect().Clear(fd)
	}
}

// transition is write for a state-changing method.
func (s *Server) transition(ctx context.Context, m Method, name, etag, requestID string, req proto.Message, apply change) (*redpointv1.Errand, error) {
	return s.write(ctx, "errand."+string(m), name, etag, requestID, req, errandevent.KindTRANSITIONED,
		func(from errand.State) (errand.State, error) { return Next(from, m) }, apply)
}

// noteOr is the history note: the caller's, or def, which a method
// composes from a text the caller may have filled to its limit ("已办结："
// and a 2000-character result), so it is cut to fit.
func noteOr(note, def string) (string, error) {
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > maxText {
		return "", apierr.InvalidField("note", fmt.Sprintf("备注不能超过 %d 个字", maxText))
	}
	if note == "" {
		return truncateRunes(def, maxText), nil
	}
	return note, nil
}

// required is a required text of at most maxLen characters, trimmed, or
// the INVALID_ARGUMENT that says what is wrong with it.
func required(field, value, what string, maxLen int) (string, error) {
	var v apierr.Violations
	value = requiredText(&v, field, value, what, maxLen)
	return value, v.Err()
}

// requiredText checks a required text of at most maxLen characters into
// v, naming it what (e.g. 撤销原因), and returns it trimmed.
func requiredText(v *apierr.Violations, field, value, what string, maxLen int) string {
	value = strings.TrimSpace(value)
	switch n := utf8.RuneCountInString(value); {
	case n == 0:
		v.Add(field, "请填写"+what)
	case n > maxLen:
		v.Add(field, fmt.Sprintf("%s不能超过 %d 个字", what, maxLen))
	}
	return value
}

// StartErrand starts an errand, or resumes it once materials arrived: the
// due time moves later by the working days spent waiting.
func (s *Server) StartErrand(ctx context.Context, req *redpointv1.StartErrandRequest) (*redpointv1.Errand, error) {
	note, err := noteOr(req.GetNote(), "")
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, Start, req.GetName(), req.GetEtag(), req.GetRequestId(), req,
		func(u *ent.ErrandUpdateOne, e *ent.Errand, cal *calendar.Calendar, now time.Time) (string, error) {
			if e.State == errand.StateNEEDS_MATERIALS && e.PauseTime != nil {
				u.SetDueTime(resumeDue(cal, e.DueTime, *e.PauseTime, now)).ClearPauseTime().SetMissingMaterials([]string{})
				return cmp.Or(note, "材料已补齐，继续办理"), nil
			}
			return cmp.Or(note, "开始办理"), nil
		})
}

// ForwardErrand records the office the errand was carried to.
func (s *Server) ForwardErrand(ctx context.Context, req *redpointv1.ForwardErrandRequest) (*redpointv1.Errand, error) {
	office, err := required("office", req.GetOffice(), "转办单位", 128)
	if err != nil {
		return nil, err
	}
	note, err := noteOr(req.GetNote(), "已送交"+office)
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, Forward, req.GetName(), req.GetEtag(), req.GetRequestId(), req,
		func(u *ent.ErrandUpdateOne, _ *ent.Errand, _ *calendar.Calendar, _ time.Time) (string, error) {
			u.SetForwardedTo(office)
			return note, nil
		})
}

// RequestErrandMaterials asks for missing materials and pauses the SLA clock.
func (s *Server) RequestErrandMaterials(ctx context.Context, req *redpointv1.RequestErrandMaterialsRequest) (*redpointv1.Errand, error) {
	var v apierr.Violations
	missing := CheckMaterials(&v, "missing_materials", req.GetMissingMaterials())
	if len(req.GetMissingMaterials()) == 0 {
		v.Add("missing_materials", "请列出缺少的材料")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	note, err := noteOr(req.GetNote(), "缺少材料："+strings.Join(missing, "、"))
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, RequestMaterials, req.GetName(), req.GetEtag(), req.GetRequestId(), req,
		func(u *ent.ErrandUpdateOne, _ *ent.Errand, _ *calendar.Calendar, now time.Time) (string, error) {
			u.SetMissingMaterials(missing).SetPauseTime(now)
			return note, nil
		})
}

// CompleteErrand closes the errand with its result.
func (s *Server) CompleteErrand(ctx context.Context, req *redpointv1.CompleteErrandRequest) (*redpointv1.Errand, error) {
	result, err := required("result", req.GetResult(), "办理结果", maxText)
	if err != nil {
		return nil, err
	}
	note, err := noteOr(req.GetNote(), "已办结："+result)
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, Complete, req.GetName(), req.GetEtag(), req.GetRequestId(), req,
		func(u *ent.ErrandUpdateOne, e *ent.Errand, cal *calendar.Calendar, now time.Time) (string, error) {
			u.SetResult(result).SetCloseTime(now).SetWorkingDays(cal.WorkingDaysBetween(e.AcceptTime, now))
			if e.FirstCloseTime == nil {
				u.SetFirstCloseTime(now)
			}
			return note, nil
		})
}

// CancelErrand withdraws the errand.
func (s *Server) CancelErrand(ctx context.Context, req *redpointv1.CancelErrandRequest) (*redpointv1.Errand, error) {
	reason, err := required("reason", req.GetReason(), "撤销原因", maxText)
	if err != nil {
		return nil, err
	}
	note, err := noteOr(req.GetNote(), "已撤销："+reason)
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, Cancel, req.GetName(), req.GetEtag(), req.GetRequestId(), req,
		func(u *ent.ErrandUpdateOne, _ *ent.Errand, _ *calendar.Calendar, now time.Time) (string, error) {
			u.SetCancelReason(reason).SetCloseTime(now).ClearPauseTime()
			return note, nil
		})
}

// updatable maps update_mask paths to their zh-CN labels for the history.
var updatable = map[string]string{
	"description":    "事项描述",
	"materials":      "已收材料",
	"resident_name":  "群众姓名",
	"resident_phone": "群众电话",
}

// UpdateErrand edits the fields named in update_mask (or, with no mask,
// those given). Closed errands can't change.
func (s *Server) UpdateErrand(ctx context.Context, req *redpointv1.UpdateErrandRequest) (*redpointv1.Errand, error) {
	in := req.GetErrand()
	if in == nil {
		return nil, apierr.InvalidField("errand", "缺少事项内容")
	}
	paths, err := resname.UpdatePaths(in, req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		for path := range updatable {
			if given(in, path) {
				paths = append(paths, path)
			}
		}
		sort.Strings(paths)
	}
	paths = slices.DeleteFunc(paths, func(path string) bool {
		// A fetched errand sent back whole carries the phone masked
		// (139****0001): that is no new number, so it changes nothing.
		return path == "resident_phone" && strings.Contains(in.GetResidentPhone(), "*")
	})
	var v apierr.Violations
	if len(paths) == 0 {
		v.Add("update_mask", "没有要修改的字段")
	}
	var desc, name, phone string
	var materials []string
	for _, path := range paths {
		if _, ok := updatable[path]; !ok {
			v.Add("update_mask", "不能修改字段 "+path+"；可修改 description、materials、resident_name、resident_phone")
			continue
		}
		switch path {
		case "description":
			desc = strings.TrimSpace(in.GetDescription())
			if utf8.RuneCountInString(desc) > maxText {
				v.Add("errand.description", fmt.Sprintf("不能超过 %d 个字", maxText))
			}
		case "materials":
			materials = CheckMaterials(&v, "errand.materials", in.GetMaterials())
		case "resident_name":
			name = strings.TrimSpace(in.GetResidentName())
			checkName(&v, "errand.resident_name", name)
		case "resident_phone":
			phone = strings.TrimSpace(in.GetResidentPhone())
			checkPhone(&v, "errand.resident_phone", phone)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.write(ctx, "errand.update", in.GetName(), in.GetEtag(), req.GetRequestId(), req, errandevent.KindUPDATED,
		func(from errand.State) (errand.State, error) {
			if Final(from) {
				return "", ErrClosed
			}
			return from, nil
		},
		func(u *ent.ErrandUpdateOne, e *ent.Errand, _ *calendar.Calendar, _ time.Time) (string, error) {
			// The history names what changed: a fetched errand sent back
			// whole names every field, most of them as they were.
			var labels []string
			for _, path := range paths {
				switch path {
				case "description":
					if desc == e.Description {
						continue
					}
					u.SetDescription(desc)
				case "materials":
					if slices.Equal(materials, e.Materials) {
						continue
					}
					u.SetMaterials(materials)
				case "resident_name":
					if name == e.ResidentName {
						continue
					}
					u.SetResidentName(name)
				case "resident_phone":
					hash := s.keys.Hash(pii.KindPhone, phone)
					if hash == e.ResidentPhoneHash {
						continue
					}
					sealed, err := s.keys.Encrypt(phone)
					if err != nil {
						return "", err
					}
					// The errand now belongs to the new number's resident:
					// ownership is the phone (resident.Owns).
					u.SetResidentPhoneCipher(sealed).SetResidentPhoneHash(hash).SetResidentPhoneLast4(phone[7:])
				}
				labels = append(labels, updatable[path])
			}
			if len(labels) == 0 {
				return "保存了事项，内容未变", nil
			}
			return "修改了" + strings.Join(labels, "、"), nil
		})
}

func given(e *redpointv1.Errand, path string) bool {
	switch path {
	case "description":
		return e.GetDescription() != ""
	case "materials":
		return len(e.GetMaterials()) > 0
	case "resident_name":
		return e.GetResidentName() != ""
	case "resident_phone":
		return e.GetResidentPhone() != ""
	}
	return false
}
