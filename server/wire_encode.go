package server

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/certcustody/certcustody/certmgr"
)

var errBadTimestamp = errors.New("bad timestamp")

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// WriteResult encodes a result with its RequestId, as JSON or (Format=XML)
// as <ActionResponse>…</ActionResponse>.
//
// A result that cannot be encoded (not an object, or, in XML, a key that is
// not an XML name) is answered with InternalError rather than an empty
// 200, and the error is returned for the log.
func WriteResult(w http.ResponseWriter, format, action, requestID string, v any) error {
	if !strings.EqualFold(format, "XML") {
		if body, ok := jsonResult(v, requestID); ok {
			w.Header().Set("Content-Type", "application/json;charset=utf-8")
			// Known before the first byte, so the answer is not chunked.
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			if _, err := w.Write(body); err != nil {
				return fmt.Errorf("%w: %w", errWritten, err)
			}
			return nil
		}
	}
	m, err := toMap(v)
	if err == nil {
		m["RequestId"] = requestID
		if err = write(w, http.StatusOK, format, action+"Response", m); err == nil || errors.Is(err, errWritten) {
			return err
		}
	}
	WriteError(w, format, requestID, "", certmgr.Internal(err))
	return err
}

// errWritten wraps a failure after the status line went out; nothing more
// can be sent then.
var errWritten = errors.New("response partly written")

// WriteError writes the cloud's error body:
// {"RequestId","HostId","Code","Message","Recommend"}.
func WriteError(w http.ResponseWriter, format, requestID, host string, e *certmgr.Error) {
	body := map[string]any{"RequestId": requestID, "HostId": host, "Code": e.Code, "Message": e.Message, "Recommend": ""}
	if e.Denied != nil {
		d, err := toMap(e.Denied)
		if err == nil {
			body["AccessDeniedDetail"] = d
		}
	}
	_ = write(w, e.HTTPStatus, format, "Error", body)
}

func write(w http.ResponseWriter, status int, format, root string, m map[string]any) error {
	var buf bytes.Buffer
	if strings.EqualFold(format, "XML") {
		w.Header().Set("Content-Type", "text/xml;charset=utf-8")
		buf.WriteString(xml.Header)
		if err := encodeXML(&buf, root, m); err != nil {
			return err
		}
	} else {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	w.WriteHeader(status)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("%w: %w", errWritten, err)
	}
	return nil
}

// jsonResult encodes a result struct as its JSON object with RequestId
// added: the same members toMap and write produce (object member order
// aside), without decoding the encoding back into a map. It is one buffer
// written once: {"RequestId":"…" first, then the result's encoding, whose
// opening brace is overwritten with the comma that joins the two.
// ok is false when v does not encode as an object (or null); WriteResult
// then takes the general path, which reports it.
func jsonResult(v any, requestID string) ([]byte, bool) {
	id, err := json.Marshal(requestID)
	if err != nil {
		return nil, false
	}
	var buf bytes.Buffer
	buf.WriteString(`{"RequestId":`)
	buf.Write(id)
	head := buf.Len()
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, false
	}
	b := buf.Bytes()
	rest := b[head:]
	switch {
	case bytes.Equal(rest, []byte("null\n")) || bytes.HasPrefix(rest, []byte("{}")):
		return append(b[:head], "}\n"...), true
	case len(rest) < 3 || rest[0] != '{':
		return nil, false
	}
	rest[0] = ','
	return b, true
}

// toMap turns a result struct into its JSON object form, so both encodings
// use the json field names.
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if string(b) == "null" {
		return m, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return m, d.Decode(&m)
}

// encodeXML writes name holding v: objects as child elements in name
// order, arrays as repeated elements of the same name.
func encodeXML(buf *bytes.Buffer, name string, v any) error {
	if !isXMLName(name) {
		// Element names come from map keys; one that is not an XML name
		// would otherwise inject markup.
		return fmt.Errorf("server: %q is not an XML element name", name)
	}
	switch x := v.(type) {
	case []any:
		for _, item := range x {
			if err := encodeXML(buf, name, item); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		buf.WriteString("<" + name + ">")
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := encodeXML(buf, k, x[k]); err != nil {
				return err
			}
		}
		buf.WriteString("</" + name + ">")
		return nil
	case nil:
		buf.WriteString("<" + name + "/>")
		return nil
	default:
		buf.WriteString("<" + name + ">")
		if err := xml.EscapeText(buf, []byte(fmt.Sprint(x))); err != nil {
			return err
		}
		buf.WriteString("</" + name + ">")
		return nil
	}
}

// isXMLName reports whether s is a safe element name: an ASCII letter or
// underscore, then letters, digits, '_', '-' or '.'. That covers every
// field name of the cloud APIs and keeps out ':' (namespaces) and markup.
func isXMLName(s string) bool {
	if s == "" || strings.HasPrefix(strings.ToLower(s), "xml") {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && (c == '-' || c == '.' || '0' <= c && c <= '9'):
		default:
			return false
		}
	}
	return true
}
