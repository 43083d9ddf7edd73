package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/regioncode"
)

// accountFlags are `redpoint user create`'s flags: the bootstrap for the
// first city admin, before anyone can log in.
type accountFlags struct {
	role, region, phone, name string
	servicePoint              int
	passwordStdin             bool
}

func (a *accountFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&a.role, "role", "", "AGENT, VILLAGE_SECRETARY, TOWNSHIP_SECRETARY, COUNTY_ADMIN or CITY_ADMIN")
	fs.StringVar(&a.region, "region", "", "12-digit region code of the account's scope (not for agents)")
	fs.StringVar(&a.phone, "phone", "", "login phone")
	fs.StringVar(&a.name, "name", "", "the person's name")
	fs.IntVar(&a.servicePoint, "service-point", 0, "agents: the service point id")
	fs.BoolVar(&a.passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
}

func createUser(ctx context.Context, cfg app.Config, f accountFlags, stdin io.Reader, stdout io.Writer, log *slog.Logger) error {
	if !f.passwordStdin {
		return errors.New("user create: pass the password on standard input with --password-stdin")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("user create: reading the password: %w", err)
	}
	acct := access.NewAccount{
		Phone: f.phone, DisplayName: f.name, Password: strings.TrimRight(line, "\r\n"),
		Role: access.Role(f.role), ServicePointID: f.servicePoint,
	}
	if acct.DisplayName == "" {
		acct.DisplayName = f.role
	}
	if f.region != "" {
		code, err := regioncode.Parse(f.region)
		if err != nil {
			return fmt.Errorf("user create: --region: %w", err)
		}
		acct.Region = code
	}
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "the app", a)
	u, err := access.CreateAccount(ctx, a.Store.Client, acct, func(access.Role, regioncode.Code) bool { return true })
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	fmt.Fprintf(stdout, "created users/%d (%s, %s, regions/%s)\n", u.ID, u.Role, u.Phone, u.RegionID)
	return nil
}
