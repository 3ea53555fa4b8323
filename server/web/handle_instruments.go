package web

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/tma-portal/tma/server/tma"
)

// instrumentGroup is one instrument with its stored versions, newest
// first.
type instrumentGroup struct {
	ID       string
	Title    string // of the newest version
	Versions []*tma.InstrumentInfo
}

type instrumentsData struct {
	Instruments []instrumentGroup
	CanManage   bool
	// Source is the text the upload form shows again after problems;
	// Problems are the problems of the last upload, each with its line
	// and field.
	Source   string
	Problems []problemView
}

// problemView is a problem of an instrument file, translated.
type problemView struct {
	Line    int
	Field   string
	Message string
}

type instrumentData struct {
	Instrument *tma.Instrument
	Info       *tma.InstrumentInfo // nil if the list lacks it
	Latest     int                 // the newest version of the instrument
}

// instrumentsView loads the list of instruments.
func (s *Server) instrumentsView(c *fiber.Ctx, d *instrumentsData) (*view, error) {
	p := principal(c)
	infos, err := s.deps.Instruments.Instruments(c.UserContext(), p.Tenant.ID)
	if err != nil {
		return nil, err
	}
	for _, in := range infos {
		if n := len(d.Instruments); n == 0 || d.Instruments[n-1].ID != in.ID {
			d.Instruments = append(d.Instruments, instrumentGroup{ID: in.ID, Title: in.Title})
		}
		g := &d.Instruments[len(d.Instruments)-1]
		g.Versions = append(g.Versions, in)
	}
	d.CanManage = s.deps.Authz.Can(p.User, tma.PermInstrumentsManage)
	return s.newView(c, "instruments.title", "", d), nil
}

func (s *Server) handleInstrumentsPage(c *fiber.Ctx) error {
	v, err := s.instrumentsView(c, &instrumentsData{})
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "instruments", v)
}

// instrumentUpload reads the uploaded instrument file: the multipart file
// field "file", or else the text field "source". The body is bounded by
// the body limit (this is no streaming route).
func instrumentUpload(c *fiber.Ctx) ([]byte, error) {
	if form, err := c.MultipartForm(); err == nil {
		if files := form.File["file"]; len(files) > 0 && files[0].Size > 0 {
			if files[0].Size > tma.MaxInstrumentFile {
				return nil, tma.Errorf(tma.ETOOLARGE, "An instrument file may have at most %d bytes.", tma.MaxInstrumentFile)
			}
			f, err := files[0].Open()
			if err != nil {
				return nil, tma.Errorf(tma.EINVALID, "The file could not be read.")
			}
			defer f.Close()
			b, err := io.ReadAll(io.LimitReader(f, tma.MaxInstrumentFile+1))
			if err != nil {
				return nil, tma.Errorf(tma.EINVALID, "The file could not be read.")
			}
			if err := tma.CheckText("file", string(b)); err != nil {
				return nil, err
			}
			return b, nil
		}
	}
	src := bodyValue(c, "source")
	if len(src) > tma.MaxInstrumentFile {
		return nil, tma.Errorf(tma.ETOOLARGE, "An instrument file may have at most %d bytes.", tma.MaxInstrumentFile)
	}
	if src == "" {
		return nil, tma.Errorf(tma.EINVALID, "Choose an instrument file or paste its text.")
	}
	return []byte(src), nil
}

// handleInstrumentImport stores a new version of an instrument. A file with
// problems imports nothing: the page lists every problem with its line and
// field, and keeps the text.
func (s *Server) handleInstrumentImport(c *fiber.Ctx) error {
	if s.deps.ParseInstrument == nil {
		return tma.Errorf(tma.EUNAVAILABLE, "Importing instruments is not available.")
	}
	src, err := instrumentUpload(c)
	var inst *tma.Instrument
	created := false
	if err == nil {
		inst, err = s.deps.ParseInstrument(src)
	}
	if err == nil {
		created, err = s.deps.Instruments.Import(c.UserContext(), principal(c).Tenant.ID, inst, src)
	}
	if err == nil && created {
		return c.Redirect("/instruments/"+inst.ID+"/"+strconv.Itoa(inst.Version), fiber.StatusSeeOther)
	}
	d := &instrumentsData{}
	v, verr := s.instrumentsView(c, d)
	if verr != nil {
		return verr
	}
	if err != nil {
		d.Source = string(src)
		var ps tma.Problems
		if errors.As(err, &ps) {
			for _, p := range ps {
				d.Problems = append(d.Problems, problemView{Line: p.Line, Field: p.Field, Message: v.problem(p)})
			}
		}
		if tma.ErrorCode(err) == tma.ETOOLARGE {
			v.Error = v.msg(err)
			return s.render(c, fiber.StatusRequestEntityTooLarge, "instruments", v)
		}
	}
	return s.outcome(c, v, "instruments", err, "instruments.unchanged")
}

// problem translates a problem of an instrument file: the catalog key is
// "msg:" and its format, as for error messages.
func (v *view) problem(p tma.Problem) string {
	if s, ok := v.catalog[v.Locale]["msg:"+p.Format]; ok {
		return fmt.Sprintf(s, p.Args...)
	}
	return p.Message()
}

// instrumentParams reads :instrument and :version.
func instrumentParams(c *fiber.Ctx) (string, int, error) {
	version, err := strconv.Atoi(c.Params("version"))
	if err != nil || version < 1 {
		return "", 0, tma.Errorf(tma.ENOTFOUND, "No such instrument version.")
	}
	return c.Params("instrument"), version, nil
}

func (s *Server) handleInstrumentPage(c *fiber.Ctx) error {
	id, version, err := instrumentParams(c)
	if err != nil {
		return err
	}
	ctx, tenantID := c.UserContext(), principal(c).Tenant.ID
	inst, err := s.deps.Instruments.Instrument(ctx, tenantID, id, version)
	if err != nil {
		return err
	}
	infos, err := s.deps.Instruments.Instruments(ctx, tenantID)
	if err != nil {
		return err
	}
	d := instrumentData{Instrument: inst, Latest: inst.Version}
	for _, in := range infos {
		if in.ID != id {
			continue
		}
		if in.Version > d.Latest {
			d.Latest = in.Version
		}
		if in.Version == version {
			d.Info = in
		}
	}
	v := s.newView(c, "instrument.title", "", d)
	v.TitleArg = inst.Title + " v" + strconv.Itoa(inst.Version)
	return s.render(c, fiber.StatusOK, "instrument", v)
}

// handleInstrumentSource sends the file a version was imported from, as a
// download: it is never shown as a page.
func (s *Server) handleInstrumentSource(c *fiber.Ctx) error {
	id, version, err := instrumentParams(c)
	if err != nil {
		return err
	}
	src, err := s.deps.Instruments.Source(c.UserContext(), principal(c).Tenant.ID, id, version)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, contentDisposition("attachment", id+"-v"+strconv.Itoa(version)+".yaml"))
	return c.Status(fiber.StatusOK).Send(src)
}
