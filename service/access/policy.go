package access

// Scope says how a call's target is checked against the caller's scope,
// after the role check here. The handler does the check, before it looks
// the resource up, so a denial never reveals whether the resource exists.
type Scope int

// How targets are scoped.
const (
	// ScopeNone: the call has no scoped target (public data, the caller's own session).
	ScopeNone Scope = iota
	// ScopeResource: the named resource must lie in the caller's scope
	// (an agent: at the agent's service point).
	ScopeResource
	// ScopeParent: the parent region in the request must lie in the caller's scope.
	ScopeParent
	// ScopeCaller: the call acts on what the caller may see (lists, sync,
	// creates at the caller's own point).
	ScopeCaller
)

// Policy is who may call one RPC.
type Policy struct {
	// Public calls need no login (directory data, login itself, health).
	Public bool
	// Roles may call it when logged in.
	Roles []Role
	// Scope is how the target is checked.
	Scope Scope
	// Write marks calls that change data: each success is audited.
	Write bool
}

var (
	everyone  = []Role{RoleAgent, RoleVillageSecretary, RoleTownshipSecretary, RoleCountyAdmin, RoleCityAdmin}
	agents    = []Role{RoleAgent}
	overseers = []Role{RoleTownshipSecretary, RoleCountyAdmin, RoleCityAdmin}
	// villageUp also oversees, down to one village: its workload, overdue
	// list and follow-ups (not the Excel reports, which are the township's).
	villageUp = []Role{RoleVillageSecretary, RoleTownshipSecretary, RoleCountyAdmin, RoleCityAdmin}
	admins    = []Role{RoleCountyAdmin, RoleCityAdmin}
	// uploaders add files to errands: those who carry the paperwork.
	uploaders   = []Role{RoleAgent, RoleTownshipSecretary}
	cityAdmins  = []Role{RoleCityAdmin}
	userManager = []Role{RoleTownshipSecretary, RoleCountyAdmin, RoleCityAdmin}
	residents   = []Role{RoleResident}
	anyoneIn    = []Role{RoleAgent, RoleVillageSecretary, RoleTownshipSecretary, RoleCountyAdmin, RoleCityAdmin, RoleResident}
)

// Policies is the one table of who may call what. An RPC missing from it
// is denied to everyone.
var Policies = map[string]Policy{
	// Directory: public reference data the mini-program shows too.
	"/redpoint.v1.RegionService/GetRegion":                           {Public: true},
	"/redpoint.v1.RegionService/ListRegions":                         {Public: true},
	"/redpoint.v1.ServicePointService/GetServicePoint":               {Public: true},
	"/redpoint.v1.ServicePointService/ListServicePoints":             {Public: true},
	"/redpoint.v1.ErrandTypeService/GetErrandType":                   {Public: true},
	"/redpoint.v1.ErrandTypeService/ListErrandTypes":                 {Public: true},
	"/redpoint.v1.AuthService/Login":                                 {Public: true},
	"/redpoint.v1.AuthService/RefreshSession":                        {Public: true},
	"/redpoint.v1.AuthService/Logout":                                {Public: true},
	"/grpc.health.v1.Health/Check":                                   {Public: true},
	"/grpc.health.v1.Health/List":                                    {Public: true},
	"/grpc.health.v1.Health/Watch":                                   {Public: true},
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {Public: true},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {Public: true},

	// Errands: agents work them at their point; overseers read their subtree.
	"/redpoint.v1.ErrandService/CreateErrand":           {Roles: agents, Scope: ScopeCaller, Write: true},
	"/redpoint.v1.ErrandService/BatchCreateErrands":     {Roles: agents, Scope: ScopeCaller, Write: true},
	"/redpoint.v1.ErrandService/GetErrand":              {Roles: everyone, Scope: ScopeResource},
	"/redpoint.v1.ErrandService/ListErrands":            {Roles: everyone, Scope: ScopeCaller},
	"/redpoint.v1.ErrandService/SyncErrands":            {Roles: everyone, Scope: ScopeCaller},
	"/redpoint.v1.ErrandService/ListErrandEvents":       {Roles: everyone, Scope: ScopeResource},
	"/redpoint.v1.ErrandService/UpdateErrand":           {Roles: agents, Scope: ScopeResource, Write: true},
	"/redpoint.v1.ErrandService/StartErrand":            {Roles: agents, Scope: ScopeResource, Write: true},
	"/redpoint.v1.ErrandService/ForwardErrand":          {Roles: agents, Scope: ScopeResource, Write: true},
	"/redpoint.v1.ErrandService/RequestErrandMaterials": {Roles: agents, Scope: ScopeResource, Write: true},
	"/redpoint.v1.ErrandService/CompleteErrand":         {Roles: agents, Scope: ScopeResource, Write: true},
	"/redpoint.v1.ErrandService/CancelErrand":           {Roles: agents, Scope: ScopeResource, Write: true},
	"/redpoint.v1.ErrandService/CreateConsentCode":      {Roles: agents, Scope: ScopeResource, Write: true},
	"/redpoint.v1.ErrandService/RecordPaperConsent":     {Roles: agents, Scope: ScopeResource, Write: true},
	// Disputes: the township that called the resident back reopens.
	"/redpoint.v1.ErrandService/ReopenErrand": {Roles: []Role{RoleTownshipSecretary}, Scope: ScopeResource, Write: true},

	// Attachments: the point's agents and the township's secretary add and
	// delete files; whoever sees the errand sees the list (the handler
	// signs download URLs only for those who may open the files).
	"/redpoint.v1.AttachmentService/CreateAttachmentUpload": {Roles: uploaders, Scope: ScopeResource, Write: true},
	"/redpoint.v1.AttachmentService/ListAttachments":        {Roles: everyone, Scope: ScopeResource},
	"/redpoint.v1.AttachmentService/GetAttachment":          {Roles: everyone, Scope: ScopeResource},
	"/redpoint.v1.AttachmentService/DeleteAttachment":       {Roles: uploaders, Scope: ScopeResource, Write: true},

	// Accounts: managed within scope, always a role below the manager's.
	"/redpoint.v1.UserService/GetUser":           {Roles: everyone, Scope: ScopeResource},
	"/redpoint.v1.UserService/ListUsers":         {Roles: userManager, Scope: ScopeParent},
	"/redpoint.v1.UserService/CreateUser":        {Roles: userManager, Scope: ScopeParent, Write: true},
	"/redpoint.v1.UserService/UpdateUser":        {Roles: userManager, Scope: ScopeResource, Write: true},
	"/redpoint.v1.UserService/ResetUserPassword": {Roles: userManager, Scope: ScopeResource, Write: true},

	// Directory and catalog upkeep.
	"/redpoint.v1.ServicePointService/CreateServicePoint": {Roles: admins, Scope: ScopeParent, Write: true},
	"/redpoint.v1.ServicePointService/UpdateServicePoint": {Roles: admins, Scope: ScopeResource, Write: true},
	"/redpoint.v1.ErrandTypeService/CreateErrandType":     {Roles: cityAdmins, Scope: ScopeNone, Write: true},
	"/redpoint.v1.ErrandTypeService/UpdateErrandType":     {Roles: cityAdmins, Scope: ScopeNone, Write: true},
	// Per-county catalogs (动态准入): counties propose for themselves, the city decides.
	"/redpoint.v1.ErrandTypeService/CreateErrandTypeAdmission": {Roles: admins, Scope: ScopeParent, Write: true},
	"/redpoint.v1.ErrandTypeService/ListErrandTypeAdmissions":  {Roles: admins, Scope: ScopeParent},
	"/redpoint.v1.ErrandTypeService/AdmitErrandTypeAdmission":  {Roles: cityAdmins, Scope: ScopeResource, Write: true},
	"/redpoint.v1.ErrandTypeService/RejectErrandTypeAdmission": {Roles: cityAdmins, Scope: ScopeResource, Write: true},
	"/redpoint.v1.CalendarService/ListCalendarDays":            {Public: true},
	"/redpoint.v1.CalendarService/LoadCalendarYear":            {Roles: cityAdmins, Scope: ScopeNone, Write: true},

	// Notifications: one's own. Failed background jobs: the city's admins.
	"/redpoint.v1.NotificationService/ListNotifications":    {Roles: everyone, Scope: ScopeCaller},
	"/redpoint.v1.NotificationService/MarkNotificationRead": {Roles: everyone, Scope: ScopeCaller, Write: true},
	"/redpoint.v1.JobService/ListFailedJobs":                {Roles: cityAdmins, Scope: ScopeNone},
	"/redpoint.v1.JobService/RetryFailedJob":                {Roles: cityAdmins, Scope: ScopeNone, Write: true},

	// Oversight: workloads, lists and reports of the caller's subtree.
	"/redpoint.v1.ReportService/GetWorkload":            {Roles: villageUp, Scope: ScopeParent},
	"/redpoint.v1.ReportService/ExportWorkload":         {Roles: overseers, Scope: ScopeParent},
	"/redpoint.v1.ReportService/ListOverdueErrands":     {Roles: villageUp, Scope: ScopeParent},
	"/redpoint.v1.ReportService/ListFollowUps":          {Roles: villageUp, Scope: ScopeParent},
	"/redpoint.v1.ReportService/CloseFollowUp":          {Roles: villageUp, Scope: ScopeResource, Write: true},
	"/redpoint.v1.ReportService/ListReportSnapshots":    {Roles: overseers, Scope: ScopeParent},
	"/redpoint.v1.ReportService/DownloadReportSnapshot": {Roles: overseers, Scope: ScopeParent},
	"/redpoint.v1.ReportService/GetQuarterlyReview":     {Roles: overseers, Scope: ScopeParent},

	// The Taihang Pioneer board: public information for everyone logged in.
	"/redpoint.v1.LeaderboardService/ListLeaderboardEntries": {Roles: anyoneIn, Scope: ScopeNone},
	"/redpoint.v1.LeaderboardService/GetServicePointRank":    {Roles: anyoneIn, Scope: ScopeNone},
	"/redpoint.v1.LeaderboardService/RebuildLeaderboard":     {Roles: cityAdmins, Scope: ScopeNone, Write: true},

	// The residents' mini-program: their own errands only.
	"/redpoint.v1.ResidentService/WechatLogin":     {Public: true},
	"/redpoint.v1.ResidentService/LookupErrand":    {Public: true},
	"/redpoint.v1.ResidentService/BindPhone":       {Roles: residents, Scope: ScopeCaller, Write: true},
	"/redpoint.v1.ResidentService/ListMyErrands":   {Roles: residents, Scope: ScopeCaller},
	"/redpoint.v1.ResidentService/SetSubscription": {Roles: residents, Scope: ScopeCaller, Write: true},
	"/redpoint.v1.ResidentService/GetMyErrand":     {Roles: residents, Scope: ScopeCaller},
	"/redpoint.v1.ResidentService/RateMyErrand":    {Roles: residents, Scope: ScopeCaller, Write: true},
	// Consent (委托授权): a code shown by the agent, confirmed by the
	// errand's resident; the handler checks the errand is theirs.
	"/redpoint.v1.ResidentService/PreviewConsent": {Roles: residents, Scope: ScopeCaller},
	"/redpoint.v1.ResidentService/GrantConsent":   {Roles: residents, Scope: ScopeCaller, Write: true},
	"/redpoint.v1.ResidentService/RevokeConsent":  {Roles: residents, Scope: ScopeCaller, Write: true},
	"/redpoint.v1.ResidentService/ReopenMyErrand": {Roles: residents, Scope: ScopeCaller, Write: true},
	// Their errands' receipts and results; the handler checks the errand is theirs.
	"/redpoint.v1.ResidentService/ListMyErrandAttachments": {Roles: residents, Scope: ScopeCaller},

	// The audit log: admins, within their scope.
	"/redpoint.v1.AuditService/ListAuditEntries": {Roles: admins, Scope: ScopeParent},
}

// allows reports whether role is in the policy's roles.
func (p Policy) allows(role Role) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}
