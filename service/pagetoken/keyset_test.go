package pagetoken_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/auditentry"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/store/storetest"
)

// A sort key over audit entries, which have an int id, strings and a time
// and no foreign keys to fill.
var (
	byID       = pagetoken.Asc(auditentry.FieldID, func(e *ent.AuditEntry) int { return e.ID })
	byIDDesc   = pagetoken.Desc(auditentry.FieldID, func(e *ent.AuditEntry) int { return e.ID })
	byTime     = pagetoken.Asc(auditentry.FieldCreateTime, func(e *ent.AuditEntry) time.Time { return e.CreateTime })
	byTimeDesc = pagetoken.Desc(auditentry.FieldCreateTime, func(e *ent.AuditEntry) time.Time { return e.CreateTime })
	byResDesc  = pagetoken.Desc(auditentry.FieldResource, func(e *ent.AuditEntry) string { return e.Resource })
)

// order is the same sort as a keyset, in Go, for the expected pages.
type order []func(a, b *ent.AuditEntry) int

func asc[V any](get func(*ent.AuditEntry) V, c func(V, V) int) func(a, b *ent.AuditEntry) int {
	return func(a, b *ent.AuditEntry) int { return c(get(a), get(b)) }
}

func desc[V any](get func(*ent.AuditEntry) V, c func(V, V) int) func(a, b *ent.AuditEntry) int {
	return func(a, b *ent.AuditEntry) int { return c(get(b), get(a)) }
}

var (
	id   = func(e *ent.AuditEntry) int { return e.ID }
	at   = func(e *ent.AuditEntry) time.Time { return e.CreateTime }
	res  = func(e *ent.AuditEntry) string { return e.Resource }
	cmpT = func(a, b time.Time) int { return a.Compare(b) }
)

func (o order) sorted(rows []*ent.AuditEntry) []int {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b *ent.AuditEntry) int {
		for _, c := range o {
			if r := c(a, b); r != 0 {
				return r
			}
		}
		return 0
	})
	ids := make([]int, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}

// seed writes n audit entries of list whose times and resources tie in
// groups (the id alone tells them apart) and carry nanoseconds.
func seed(t *testing.T, db *ent.Client, list string, n int) []*ent.AuditEntry {
	t.Helper()
	base := time.Date(2026, 11, 25, 2, 0, 0, 123456789, time.UTC)
	rows := make([]*ent.AuditEntry, n)
	for i := range n {
		r, err := db.AuditEntry.Create().SetAction(list).SetResource(string(rune('a' + i%3))).
			SetCreateTime(base.Add(time.Duration(i%4) * 1500 * time.Microsecond)).Save(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rows[i] = r
	}
	return rows
}

// pager reads the pages of one list of audit entries.
type pager struct {
	db     *ent.Client
	signer *pagetoken.Signer
	list   string
	keys   []pagetoken.Key[*ent.AuditEntry]
	limits []int // the Window.Limit of every fetch
}

func (p *pager) page(size int, token string) ([]int, string, error) {
	ctx := pagetoken.WithSize(context.Background(), size)
	rows, next, err := pagetoken.Page(ctx, p.signer, token, pagetoken.Query{"audit", p.list},
		func(w pagetoken.Window) ([]*ent.AuditEntry, error) {
			p.limits = append(p.limits, w.Limit)
			return p.db.AuditEntry.Query().Where(auditentry.Action(p.list), w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		}, p.keys...)
	ids := make([]int, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids, next, err
}

// walk reads the whole list size rows at a time, page by page.
func (p *pager) walk(t *testing.T, size int) ([]int, [][]int) {
	t.Helper()
	var all []int
	var pages [][]int
	token := ""
	for {
		ids, next, err := p.page(size, token)
		if err != nil {
			t.Fatalf("page %d: %v", len(pages)+1, err)
		}
		all, pages = append(all, ids...), append(pages, ids)
		if next == "" {
			return all, pages
		}
		if len(pages) > 1000 {
			t.Fatal("the list does not end")
		}
		token = next
	}
}

func newSigner(t *testing.T, b byte) *pagetoken.Signer {
	t.Helper()
	s, err := pagetoken.NewSigner(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPageWalksEveryOrder: read page by page in every order a list uses —
// by id either way, by a time then the id either way, and a mixed order
// like the follow-ups' — the rows come as one sorted read gives them, each
// once: the first, middle and last pages, a list that is an exact multiple
// of the page size (no empty page after it), one row more, one page, an
// empty list. Times and strings tie, so the id decides.
func TestPageWalksEveryOrder(t *testing.T) {
	db := storetest.Open(t).Client
	const n = 12
	rows := seed(t, db, "/test/List", n)
	seed(t, db, "/test/Other", 3) // another list, in the same table
	orders := []struct {
		name string
		keys []pagetoken.Key[*ent.AuditEntry]
		want order
	}{
		{"id", []pagetoken.Key[*ent.AuditEntry]{byID}, order{asc(id, cmp.Compare[int])}},
		{"id desc", []pagetoken.Key[*ent.AuditEntry]{byIDDesc}, order{desc(id, cmp.Compare[int])}},
		{"time, id", []pagetoken.Key[*ent.AuditEntry]{byTime, byID}, order{asc(at, cmpT), asc(id, cmp.Compare[int])}},
		{"time desc, id desc", []pagetoken.Key[*ent.AuditEntry]{byTimeDesc, byIDDesc}, order{desc(at, cmpT), desc(id, cmp.Compare[int])}},
		{"resource desc, time, id", []pagetoken.Key[*ent.AuditEntry]{byResDesc, byTime, byID},
			order{desc(res, cmp.Compare[string]), asc(at, cmpT), asc(id, cmp.Compare[int])}},
	}
	sizes := []struct {
		size, pages int
	}{{1, n}, {5, 3}, {4, 3}, {6, 2}, {n - 1, 2}, {n, 1}, {n + 1, 1}, {500, 1}}
	for _, o := range orders {
		want := o.want.sorted(rows)
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s by %d", o.name, sz.size), func(t *testing.T) {
				p := &pager{db: db, signer: newSigner(t, 1), list: "/test/List", keys: o.keys}
				got, pages := p.walk(t, sz.size)
				if !slices.Equal(got, want) {
					t.Fatalf("read %v, want %v", got, want)
				}
				if len(pages) != sz.pages {
					t.Fatalf("%d pages %v, want %d", len(pages), pages, sz.pages)
				}
				for i, pg := range pages {
					if len(pg) != sz.size && i != len(pages)-1 {
						t.Fatalf("page %d of %d holds %d rows", i+1, len(pages), len(pg))
					}
				}
				for _, l := range p.limits {
					if l != sz.size+1 {
						t.Fatalf("fetched with limit %d, want %d", l, sz.size+1)
					}
				}
			})
		}
	}
	t.Run("empty", func(t *testing.T) {
		p := &pager{db: db, signer: newSigner(t, 1), list: "/test/None", keys: orders[3].keys}
		ids, next, err := p.page(5, "")
		if len(ids) != 0 || next != "" || err != nil {
			t.Fatalf("empty list: %v, %q, %v", ids, next, err)
		}
	})
}

// TestPageRefusesTokens: a token that isn't ours, is for another list or
// query, or whose cursor doesn't fit the sort key is INVALID_ARGUMENT on
// page_token, and the list's query never runs.
func TestPageRefusesTokens(t *testing.T) {
	db := storetest.Open(t).Client
	seed(t, db, "/test/List", 5)
	seed(t, db, "/test/Other", 5)
	signer := newSigner(t, 1)
	keys := []pagetoken.Key[*ent.AuditEntry]{byTimeDesc, byIDDesc}
	first := func(signer *pagetoken.Signer, list string, keys ...pagetoken.Key[*ent.AuditEntry]) string {
		t.Helper()
		_, next, err := (&pager{db: db, signer: signer, list: list, keys: keys}).page(2, "")
		if err != nil || next == "" {
			t.Fatalf("first page: %q, %v", next, err)
		}
		return next
	}
	signed := func(cursor any) string {
		tok, err := signer.Encode(pagetoken.Query{"audit", "/test/List"}, cursor)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := []struct{ name, token string }{
		{"garbage", "not a token"},
		{"another deployment's", first(newSigner(t, 2), "/test/List", keys...)},
		{"another query's", first(signer, "/test/Other", keys...)},
		{"a sort key of fewer columns", first(signer, "/test/List", byIDDesc)},
		{"a sort key of other types", first(signer, "/test/List", byResDesc, byIDDesc)},
		{"a cursor of one value too many", signed([]any{time.Now(), 1, 2})},
		{"a null in the cursor", signed([]any{nil, 1})},
		{"a cursor that is no list", signed(map[string]int{"i": 1})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &pager{db: db, signer: signer, list: "/test/List", keys: keys}
			ids, next, err := p.page(2, tc.token)
			var e *apierr.Error
			if !errors.As(err, &e) || !errors.Is(err, apierr.ErrInvalidArgument) || len(e.Violations) != 1 || e.Violations[0].Field != "page_token" {
				t.Fatalf("got %v, %q, %v; want INVALID_ARGUMENT on page_token", ids, next, err)
			}
			if len(p.limits) != 0 {
				t.Error("the list was read for a refused token")
			}
		})
	}
}

// TestPageNeedsTheValidatedSize: a handler called around the interceptor
// chain has no validated page size; Page says so rather than guess one.
func TestPageNeedsTheValidatedSize(t *testing.T) {
	ran := false
	_, _, err := pagetoken.Page(context.Background(), newSigner(t, 1), "", pagetoken.Query{"x"},
		func(pagetoken.Window) ([]*ent.AuditEntry, error) { ran = true; return nil, nil }, byID)
	if err == nil || ran {
		t.Fatalf("Page without a size: %v, ran %v", err, ran)
	}
}
