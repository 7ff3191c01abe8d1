package server

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/certcustody/certcustody/certmgr"
)

var errBadTimestamp = errors.New("bad timestamp")

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// WriteResult encodes a result with its RequestId, as JSON or (Format=XML)
// as <ActionResponse>…</ActionResponse>.
func WriteResult(w http.ResponseWriter, format, action, requestID string, v any) error {
	m, err := toMap(v)
	if err != nil {
		return err
	}
	m["RequestId"] = requestID
	return write(w, http.StatusOK, format, action+"Response", m)
}

// WriteError writes the cloud's error body:
// {"RequestId","HostId","Code","Message","Recommend"}.
func WriteError(w http.ResponseWriter, format, requestID, host string, e *certmgr.Error) {
	body := map[string]any{"RequestId": requestID, "HostId": host, "Code": e.Code, "Message": e.Message, "Recommend": ""}
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
	_, err := w.Write(buf.Bytes())
	return err
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
