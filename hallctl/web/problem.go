package web

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sort"

	"github.com/servicehall/servicehall/hallctl/ctl"
)

// Problem is an application/problem+json answer (RFC 9457) with a stable
// code and the message in Chinese and English.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	MessageZH string `json:"message_zh"`
	MessageEN string `json:"message_en"`
	Detail    string `json:"detail,omitempty"`
}

type problemText struct {
	status int
	zh, en string
}

// problems is the documented list of error codes (docs/api.md).
var problems = map[string]problemText{
	"invalid_json":        {400, "请求内容不是有效的 JSON", "the request body is not valid JSON"},
	"bad_request":         {400, "请求参数有误", "bad request parameters"},
	"body_too_large":      {413, "请求内容过大", "the request body is too large"},
	"unauthorized":        {401, "需要登录（缺少或无效的令牌）", "a valid bearer token is required"},
	"token_expired":       {401, "登录已过期，请重新获取令牌", "the token has expired"},
	"token_revoked":       {401, "该账号的令牌已被停用", "the token's subject is disabled"},
	"forbidden":           {403, "当前角色无权执行此操作", "this role may not do that"},
	"wrong_window":        {403, "令牌未绑定此窗口", "the token is not bound to this window"},
	"not_found":           {404, "未找到", "not found"},
	"unknown_item":        {404, "没有这个事项", "unknown item"},
	"unknown_window":      {404, "没有这个窗口", "unknown window"},
	"unknown_ticket":      {404, "没有这个号码", "unknown ticket"},
	"unknown_class":       {400, "未知的取号类别", "unknown class"},
	"unknown_action":      {400, "未知的操作", "unknown action"},
	"bad_transfer":        {400, "转移目标无效（item:事项编码 或 window:窗口号）", "bad transfer target (item:CODE or window:N)"},
	"bad_action":          {400, "无效的管理操作", "bad manager action"},
	"bad_level":           {400, "评价等级须为 1 到 5", "rating level must be 1..5"},
	"not_rateable":        {409, "该号尚未办结，暂不能评价", "the ticket has not been served yet"},
	"already_rated":       {409, "该号已评价，谢谢", "the ticket is already rated"},
	"bad_reason":          {400, "差评原因或意见无效", "bad rating reason or comment"},
	"followup_bad_state":  {409, "回访当前状态不允许此操作", "the follow-up's state does not allow this step"},
	"not_your_followup":   {403, "这条回访不属于此窗口", "the follow-up is not this window's"},
	"window_closed":       {409, "窗口未开放", "the window is closed"},
	"window_paused":       {409, "窗口已暂停服务", "the window is paused"},
	"window_busy":         {409, "窗口正在办理当前号码", "the window is still serving a ticket"},
	"window_idle":         {409, "窗口当前没有号码", "the window has no current ticket"},
	"no_ticket":           {409, "没有可呼叫的号码", "no ticket waiting that this window may serve"},
	"duplicate_person":    {409, "您已持有该事项的有效号码", "this person already holds an active ticket for the item"},
	"bad_state":           {409, "号码状态不允许此操作", "the ticket's state does not allow this"},
	"not_served":          {409, "暂无窗口办理该事项", "no window may serve this item"},
	"closed_today":        {409, "今日该事项已停止取号，请明日再来或预约办理", "no window will serve this item again today; come back tomorrow or book an appointment"},
	"duplicate":           {409, "请求已处理", "request already handled"},
	"no_card":             {409, "未读到身份证，请将身份证放在读卡区", "no ID card read on this kiosk"},
	"card_session_busy":   {409, "该终端的读卡器已被占用", "the kiosk's reader has a live card session"},
	"unknown_appointment": {404, "预约码无效或已使用", "unknown or used appointment code"},
	"unknown_agent":       {404, "没有这个终端", "unknown kiosk agent"},
	"appointment_expired": {410, "预约已过期，请重新预约或现场取号", "the appointment has expired"},
	"booking_cancelled":   {409, "该预约已取消", "the appointment was cancelled"},
	"already_checked_in":  {409, "该预约已签到", "the appointment is already checked in"},
	"pushes_disabled":     {403, "未配置预约推送密钥", "appointment pushes are not configured"},
	"unsigned":            {401, "推送缺少签名", "the push is not signed"},
	"bad_signature":       {401, "推送签名无效", "the push signature does not match"},
	"signature_skew":      {401, "推送时间戳与服务器时间相差过大", "the push timestamp is too far from now"},
	"replayed_nonce":      {409, "推送已处理（nonce 重复）", "the push nonce was already used"},
	"cases_off":           {503, "办件登记不可用", "the case registry is not available"},
	"unknown_case":        {404, "没有这个办件", "unknown case"},
	"stale_status":        {409, "办件状态不能倒退", "the case status cannot go backwards"},
	"unknown_followup":    {404, "没有这条回访（该号没有差评）", "no follow-up for this ticket"},
	"followup_closed":     {409, "该回访已办结", "the follow-up is already closed"},
	"bad_report":          {400, "报表参数有误", "bad report parameters"},
	"not_reprintable":     {409, "该号不在等候中或已打印", "the ticket is not waiting or is already printed"},
	"no_case_system":      {409, "本大厅未配置办件系统推送", "no case-system webhook is configured"},
	"no_dead_letter":      {404, "没有这条送达失败的事件", "no such dead letter"},
	"reason_required":     {400, "作废须填写原因", "a discard needs a reason"},
	"no_printer":          {503, "本机没有可用的打印机，请联系工作人员", "no printer of this kiosk is available"},
	"bad_ticket_link":     {404, "号票链接无效，请重新扫描号票上的二维码", "the ticket link is not valid; scan the QR code on the ticket again"},
	"bad_ticket_check":    {404, "号码或核验码不正确，请核对号票上的核验码", "the number and check code do not match; check the code printed on the ticket"},
	"rate_limited":        {429, "请求过于频繁，请稍后再试", "too many requests; try again later"},
	"too_many_tickets":    {429, "本机取号过于频繁，请稍后再试", "too many tickets from this kiosk; try again shortly"},
	"item_full_today":     {409, "该事项今日号源已取完，请明日再来或预约办理", "today's tickets for this item are all taken; come back tomorrow or book an appointment"},
	"unavailable":         {503, "系统正在恢复，请稍后再试", "the controller is restarting; try again shortly"},
	"internal":            {500, "系统内部错误，请联系工作人员", "internal error"},
}

// writeProblem answers with the code's problem document.
func writeProblem(w http.ResponseWriter, code, detail string) {
	writeProblemCause(w, code, detail, nil)
}

// writeProblemCause answers with the code's problem document; a 500 is
// logged with its cause (the applicant sees only "internal error").
func writeProblemCause(w http.ResponseWriter, code, detail string, cause error) {
	p, ok := problems[code]
	if !ok {
		p, code = problems["internal"], "internal"
		if cause == nil {
			cause = errors.New("unknown problem code " + detail)
		}
	}
	if p.status == http.StatusInternalServerError {
		if rl, ok := w.(*reqLog); ok {
			rl.internal(cause, detail)
		}
		detail = ""
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if p.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	w.WriteHeader(p.status)
	_ = json.NewEncoder(w).Encode(Problem{Type: "/docs/api.md#" + code, Title: p.en, Status: p.status,
		Code: code, MessageZH: p.zh, MessageEN: p.en, Detail: detail})
}

// writeErr maps a controller error to its problem.
func writeErr(w http.ResponseWriter, err error) {
	var he *httpErr
	if errors.As(err, &he) {
		writeProblem(w, he.code, he.detail)
		return
	}
	code := ctl.Code(err)
	detail := ""
	if code != "internal" {
		detail = err.Error()
	}
	writeProblemCause(w, code, detail, err)
}

// reqLog is the ResponseWriter every API handler gets (see wrap): it lets
// writeProblem log each 500 with the request and its cause, in one place.
type reqLog struct {
	http.ResponseWriter
	log *slog.Logger
	r   *http.Request
}

func (rl *reqLog) internal(cause error, detail string) {
	if rl.log == nil {
		return
	}
	if cause == nil {
		cause = errors.New("no cause given")
	}
	rl.log.Error("internal error answered 500", "method", rl.r.Method, "path", rl.r.URL.Path, "err", cause, "detail", detail)
}

// Unwrap lets http.ResponseController reach the connection.
func (rl *reqLog) Unwrap() http.ResponseWriter { return rl.ResponseWriter }

// Hijack lets the websocket stream take the connection over.
func (rl *reqLog) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(rl.ResponseWriter).Hijack()
}

// Flush passes a flush on.
func (rl *reqLog) Flush() { _ = http.NewResponseController(rl.ResponseWriter).Flush() }

type httpErr struct{ code, detail string }

func (e *httpErr) Error() string { return e.code + ": " + e.detail }

func errCode(code, detail string) error { return &httpErr{code, detail} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ProblemCodes lists every error code (docs/api.md documents them).
func ProblemCodes() []string {
	out := make([]string, 0, len(problems))
	for c := range problems {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
