package certmgr

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// NextToken paging. A token is the key of the last row of the page it
// ends (a keyset cursor), plus the listing it belongs to and the number of
// the page it ends, base64url-encoded. It grants nothing: every page is
// still scoped by the caller's account, so a token edited by hand can only
// move the cursor within what the caller may list. It is still checked
// strictly, so a forged one is InvalidParameter.NextToken, never a
// database error.

// Listings that own a token; a token of one is refused by another.
const (
	tokenListCert       = "cert"
	tokenListEndEntity  = "ee"
	tokenListPcaCA      = "ca"
	tokenListTagPCA     = "tagpca"
	maxTokenLen         = 512
	maxPageNumber       = 1_000_000
	maxIdentifierLength = 128
)

var tokenIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// pageToken is a decoded NextToken.
type pageToken struct {
	list string
	page int    // the page this token ends; the next page is page+1
	at   int64  // created_at (Unix ms) of the last row, or 0 for tag listings
	id   string // identifier of the last row
	key  string // tag listings: the last row's tag key (any text)
}

func (t pageToken) encode() string {
	raw := t.list + "|" + strconv.Itoa(t.page) + "|" + strconv.FormatInt(t.at, 10) + "|" + t.id + "|" + t.key
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func (t pageToken) cursor() *store.Cursor {
	return &store.Cursor{CreatedAt: time.UnixMilli(t.at).UTC(), ID: t.id}
}

// decodeToken parses a NextToken of the given listing ("" → nil).
func decodeToken(list, s string) (*pageToken, error) {
	if s == "" {
		return nil, nil
	}
	bad := RuleViolation("NextToken", "The NextToken is not one this listing returned.")
	if len(s) > maxTokenLen {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	parts := strings.SplitN(string(raw), "|", 5)
	if len(parts) != 5 || parts[0] != list {
		return nil, bad
	}
	page, err1 := strconv.Atoi(parts[1])
	at, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || page < 1 || page >= maxPageNumber || at < 0 || at > 1<<53 || !tokenIDPattern.MatchString(parts[3]) {
		return nil, bad
	}
	if list != tokenListTagPCA && parts[4] != "" {
		return nil, bad
	}
	return &pageToken{list: list, page: page, at: at, id: parts[3], key: parts[4]}, nil
}

// pageSize picks a page size from MaxResults, or ShowSize when MaxResults
// is not given (the older paging parameter names the same thing).
func pageSize(maxResults, showSize, def, limit int) (int, error) {
	n := maxResults
	if n == 0 {
		n = showSize
	}
	if n == 0 {
		return def, nil
	}
	if n < 1 || n > limit {
		return 0, InvalidParameter("MaxResults", "must be 1 to %d", limit)
	}
	return n, nil
}

// keysetPage checks CurrentPage against keyset paging: the first page is
// asked for without a NextToken, and every later page only with the token
// the page before returned, because a page number alone would need an
// OFFSET scan. It returns the number of the page being read.
func keysetPage(currentPage int, tok *pageToken) (int, error) {
	if tok != nil {
		return tok.page + 1, nil
	}
	if currentPage < 0 || currentPage > 1 {
		return 0, InvalidParameter("CurrentPage", "pages after the first are read with the NextToken the previous page returned")
	}
	return 1, nil
}

func pageCount(total int64, size int) int {
	if size <= 0 {
		return 0
	}
	return int((total + int64(size) - 1) / int64(size))
}

// checkIdentifier bounds an identifier parameter before it reaches a query.
func checkIdentifier(name, v string) error {
	if len(v) > maxIdentifierLength {
		return InvalidParameter(name, "at most %d characters", maxIdentifierLength)
	}
	return nil
}
