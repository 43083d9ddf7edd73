package errands

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/predicate"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/calendar"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/resname"
)

// term is one `field op value` of a filter.
var term = regexp.MustCompile(`^\s*([a-z_]+)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*$`)

// andSplit splits on AND as a word, in any case.
var andSplit = regexp.MustCompile(`(?i)\s+AND\s+`)

// parseFilter turns an AIP-160 subset (conditions joined by AND) into
// predicates. Every problem is an INVALID_ARGUMENT on "filter"; a region
// outside the caller's scope is PERMISSION_DENIED. The filter's length and
// number of terms are bounded (pagetoken.MaxFilterBytes, MaxFilterTerms)
// before any term is parsed.
func (s *Server) parseFilter(p access.Principal, filter string, cal *calendar.Calendar, now time.Time) ([]predicate.Errand, error) {
	if err := pagetoken.CheckFilter(filter); err != nil {
		return nil, err
	}
	filter = strings.TrimSpace(filter)
	if filter == "" {
		return nil, nil
	}
	bad := func(msg string) error { return apierr.InvalidField("filter", msg) }
	// One split more than the cap leaves the rest in the last part, so
	// that counting costs no more than the cap.
	parts := andSplit.Split(filter, pagetoken.MaxFilterTerms+1)
	if len(parts) > pagetoken.MaxFilterTerms {
		return nil, bad(fmt.Sprintf("条件不能超过 %d 个", pagetoken.MaxFilterTerms))
	}
	var preds []predicate.Errand
	for _, part := range parts {
		m := term.FindStringSubmatch(part)
		if m == nil {
			return nil, bad("无法解析条件「" + part + "」，格式为 字段 运算符 值，多个条件用 AND 连接")
		}
		field, op, value := m[1], m[2], strings.Trim(m[3], `"`)
		eqOnly := func() error {
			if op != "=" {
				return bad("字段 " + field + " 只支持 =")
			}
			return nil
		}
		switch field {
		case "state":
			if err := eqOnly(); err != nil {
				return nil, err
			}
			st, err := ParseState(value)
			if err != nil {
				return nil, bad("未知状态 " + value)
			}
			preds = append(preds, errand.StateEQ(st))
		case "errand_type":
			if err := eqOnly(); err != nil {
				return nil, err
			}
			code, err := resname.StringID("filter", value, resname.ErrandTypes, 32)
			if err != nil {
				return nil, bad("errand_type 应为 errandTypes/{编码}")
			}
			preds = append(preds, errand.ErrandTypeID(code))
		case "service_point":
			if err := eqOnly(); err != nil {
				return nil, err
			}
			id, err := resname.IntID("filter", value, resname.ServicePoints)
			if err != nil {
				return nil, bad("service_point 应为 servicePoints/{编号}")
			}
			preds = append(preds, errand.ServicePointID(id))
		case "agent":
			if err := eqOnly(); err != nil {
				return nil, err
			}
			id, err := resname.IntID("filter", value, resname.Users)
			if err != nil {
				return nil, bad("agent 应为 users/{编号}")
			}
			preds = append(preds, errand.AgentID(id))
		case "region":
			if err := eqOnly(); err != nil {
				return nil, err
			}
			code, err := resname.Region("filter", value)
			if err != nil {
				return nil, bad("region 应为 regions/{12 位区划代码}")
			}
			if p.Role != access.RoleAgent && !p.Covers(code) {
				return nil, ErrOutOfScope.WithMessage("无权查看该地区的事项")
			}
			lo, hi := code.Range()
			preds = append(preds, errand.RegionIDGTE(lo), errand.RegionIDLTE(hi))
		case "create_time", "update_time":
			t, err := time.Parse(time.RFC3339, value)
			if err != nil {
				return nil, bad(field + " 的值应为 RFC 3339 时间，如 2026-11-01T00:00:00+08:00")
			}
			pred, ok := timePredicate(field, op, t.UTC())
			if !ok {
				return nil, bad(field + " 只支持 >、>=、<、<=")
			}
			preds = append(preds, pred)
		case "overdue", "due_soon":
			if err := eqOnly(); err != nil {
				return nil, err
			}
			if value != "true" && value != "false" {
				return nil, bad(field + " 的值应为 true 或 false")
			}
			pred := OverduePredicate(now)
			if field == "due_soon" {
				pred = DueSoonPredicate(cal, now)
			}
			if value == "false" {
				pred = errand.Not(pred)
			}
			preds = append(preds, pred)
		case "resident_phone":
			if err := eqOnly(); err != nil {
				return nil, err
			}
			if !pii.ValidMobile(value) {
				return nil, bad("resident_phone 应为 11 位大陆手机号")
			}
			preds = append(preds, errand.ResidentPhoneHash(s.keys.Hash(pii.KindPhone, value)))
		default:
			return nil, bad("不支持按 " + field + " 筛选")
		}
	}
	return preds, nil
}

func timePredicate(field, op string, t time.Time) (predicate.Errand, bool) {
	type ops struct {
		gt, gte, lt, lte func(time.Time) predicate.Errand
	}
	table := map[string]ops{
		"create_time": {errand.CreateTimeGT, errand.CreateTimeGTE, errand.CreateTimeLT, errand.CreateTimeLTE},
		"update_time": {errand.UpdateTimeGT, errand.UpdateTimeGTE, errand.UpdateTimeLT, errand.UpdateTimeLTE},
	}[field]
	switch op {
	case ">":
		return table.gt(t), true
	case ">=":
		return table.gte(t), true
	case "<":
		return table.lt(t), true
	case "<=":
		return table.lte(t), true
	}
	return nil, false
}

// ordering is a parsed order_by.
type ordering struct {
	field string // errand.FieldUpdateTime, FieldDueTime or FieldCreateTime
	desc  bool
}

func parseOrder(s string) (ordering, error) {
	if err := pagetoken.CheckOrderBy(s); err != nil {
		return ordering{}, err
	}
	s = strings.Join(strings.Fields(s), " ")
	switch s {
	case "", "update_time desc":
		return ordering{errand.FieldUpdateTime, true}, nil
	case "update_time", "update_time asc":
		return ordering{errand.FieldUpdateTime, false}, nil
	case "due_time", "due_time asc":
		return ordering{errand.FieldDueTime, false}, nil
	case "due_time desc":
		return ordering{errand.FieldDueTime, true}, nil
	case "create_time", "create_time asc":
		return ordering{errand.FieldCreateTime, false}, nil
	case "create_time desc":
		return ordering{errand.FieldCreateTime, true}, nil
	}
	return ordering{}, apierr.InvalidField("order_by", "排序应为 update_time、due_time 或 create_time，可加 desc")
}

// keys is the order's sort key: the time, then the id, both in the order's
// direction.
func (o ordering) keys() []pagetoken.Key[*ent.Errand] {
	id := func(e *ent.Errand) int { return e.ID }
	if o.desc {
		return []pagetoken.Key[*ent.Errand]{pagetoken.Desc(o.field, o.value), pagetoken.Desc(errand.FieldID, id)}
	}
	return []pagetoken.Key[*ent.Errand]{pagetoken.Asc(o.field, o.value), pagetoken.Asc(errand.FieldID, id)}
}

func (o ordering) value(e *ent.Errand) time.Time {
	switch o.field {
	case errand.FieldDueTime:
		return e.DueTime
	case errand.FieldCreateTime:
		return e.CreateTime
	default:
		return e.UpdateTime
	}
}
