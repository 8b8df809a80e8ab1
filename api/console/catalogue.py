"""Every label of the crew console, in English and Chinese: one catalogue, key -> {en, zh}.

Templates and the console's Python say `t("alert.ack")`, never the words themselves (a test
reads the templates for stray text). Values are `str.format` patterns over named fields; they
hold no HTML (the template escapes them with the values). The language is `?lang=` when given,
else the console's language cookie (set by `?lang=`), else the best of Accept-Language, else
English. Alert messages are data written by the rules (English) and are shown as they are.
"""

from __future__ import annotations

from typing import Literal, get_args

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "en"
HTML_LANG = {"en": "en", "zh": "zh-CN"}

_KINDS: dict[str, tuple[str, str]] = {
    "lamp_out": ("Lamp out", "路灯不亮"),
    "day_burner": ("Lit by day", "白天亮灯"),
    "cycling": ("Cycling on and off", "频繁开关"),
    "lamp_fault": ("Lamp fault", "路灯故障"),
    "lamp_silent": ("Lamp silent", "路灯无信号"),
    "gateway_offline": ("Gateway offline", "网关离线"),
    "blind_spot": ("Blind spot (dark lamps side by side)", "照明盲区（相邻灯不亮）"),
    "cabinet_failure": ("Cabinet failure", "配电箱故障"),
    "zone_below_target": ("Zone below target", "片区亮灯率未达标"),
    "blockage": ("Drain blockage", "排水堵塞"),
    "overflow_imminent": ("Overflow imminent", "即将溢流"),
    "cover_open": ("Manhole cover open", "井盖打开"),
    "sensor_fault": ("Sensor fault", "传感器故障"),
    "low_battery": ("Low battery", "电池电量低"),
    "drain_silent": ("Drain sensor silent", "排水传感器无信号"),
    "citizen_report": ("Citizen report", "市民报告"),
    "patrol_mismatch": ("Patrol saw it dark, telemetry says lit", "巡查不亮，遥测显示亮"),
}

CATALOGUE: dict[str, dict[Language, str]] = {
    key: {"en": en, "zh": zh} for key, (en, zh) in {
        # Frame
        "app.title": ("Streetwatch crew console", "路灯与排水 班组控制台"),
        "nav.alerts": ("Alerts", "告警"),
        "nav.patrol": ("Night patrol", "夜间巡查"),
        "nav.report": ("Monthly report", "月度报告"),
        "nav.signout": ("Sign out", "退出"),
        "nav.language": ("Language", "语言"),
        "lang.en": ("English", "English"),
        "lang.zh": ("中文", "中文"),
        "who.signed_in": ("{name} ({role}), {zones}", "{name}（{role}），{zones}"),
        "who.all_zones": ("all zones", "全部片区"),
        "role.viewer": ("viewer", "查看"),
        "role.crew": ("crew", "班组"),
        "role.manager": ("manager", "管理"),
        "role.admin": ("admin", "系统管理"),
        # Signing in
        "signin.heading": ("Sign in", "登录"),
        "signin.key_label": ("Crew key", "班组密钥"),
        "signin.key_hint": ("Paste the key you were given (sw_...). It is sent once and is not "
                            "kept on this phone.",
                            "粘贴发给您的密钥（sw_…）。密钥只发送一次，不会保存在本机。"),
        "signin.submit": ("Sign in", "登录"),
        "signin.bad_key": ("That key is not valid, or it has been revoked.",
                           "密钥无效，或已被吊销。"),
        "signin.low_role": ("This key cannot use the console: it needs the crew role or above.",
                            "此密钥不能使用控制台：需要班组或更高权限。"),
        # The alert list
        "alerts.heading": ("Open alerts", "未处理告警"),
        "alerts.none": ("No open alerts.", "没有未处理的告警。"),
        "alerts.count": ("{n} open", "{n} 条未处理"),
        "alerts.more": ("More alerts are open than shown: the {n} newest, most urgent first.",
                        "未处理告警过多：仅显示最新的 {n} 条，按紧急程度排列。"),
        "alerts.updated": ("Updated {time}", "更新于 {time}"),
        "alerts.reload": ("Reload the page to see new alerts.", "请刷新页面查看新告警。"),
        "rate.line": ("{zone}: lighting rate {rate}, target {target}",
                      "{zone}：亮灯率 {rate}，目标 {target}"),
        "rate.below": ("below target", "未达标"),
        "rate.town": ("Town", "全镇"),
        "rate.none": ("{zone}: no lighting rate now ({why})", "{zone}：暂无亮灯率（{why}）"),
        "rate.why.day": ("daytime", "白天"),
        "rate.why.switching": ("lights switching", "开关灯时段"),
        "rate.why.night": ("no recent sample from the rule engine", "规则引擎近期无数据"),
        "rate.unavailable": ("The lighting rate cannot be read right now.",
                             "暂时无法读取亮灯率。"),
        # One alert
        "alert.heading": ("Alert {id}", "告警 {id}"),
        "alert.overdue": ("Overdue by {d}", "已超时 {d}"),
        "alert.left": ("{d} left", "剩余 {d}"),
        "alert.deadline": ("Deadline {time}", "期限 {time}"),
        "alert.new": ("New", "新"),
        "alert.road_position": ("{road}, lamp no. {position}", "{road} 第 {position} 号"),
        "alert.devices": ("Devices: {devices}", "设备：{devices}"),
        "alert.map": ("Map", "地图"),
        "alert.raised": ("Raised {time}", "发出于 {time}"),
        "alert.acknowledged_by": ("Acknowledged by {who} at {time}", "{who} 于 {time} 确认"),
        "alert.assigned_to": ("Assigned to {who}", "指派给 {who}"),
        "alert.resolved_by": ("Resolved by {who} at {time}", "{who} 于 {time} 处理完毕"),
        "alert.details": ("Details and history", "详情与处理记录"),
        "alert.history": ("History", "处理记录"),
        "alert.ack": ("Acknowledge", "确认接单"),
        "alert.comment_label": ("Comment", "备注"),
        "alert.comment_submit": ("Add comment", "添加备注"),
        "alert.resolve_label": ("What was done", "处理情况"),
        "alert.resolve_submit": ("Resolve", "处理完毕"),
        "alert.back": ("Back to the alerts", "返回告警列表"),
        "refused.acknowledged": ("Already acknowledged by {who} at {time}.",
                                 "{who} 已于 {time} 确认。"),
        "refused.resolved": ("Already resolved by {who} at {time}.",
                             "{who} 已于 {time} 处理完毕。"),
        "form.text_invalid": ("Please write some plain text (at most 2,000 characters).",
                              "请填写纯文本（最多 2000 字）。"),
        "state.raised": ("new", "待确认"),
        "state.acknowledged": ("acknowledged", "已确认"),
        "state.resolved": ("resolved", "已处理"),
        "severity.red": ("Red", "红色"),
        "severity.yellow": ("Yellow", "黄色"),
        "severity.blue": ("Blue", "蓝色"),
        "event.raised": ("raised", "发出"),
        "event.repeated": ("seen again", "再次出现"),
        "event.acknowledged": ("acknowledged", "确认"),
        "event.resolved": ("resolved", "处理完毕"),
        "event.overdue": ("overdue", "超时"),
        "event.escalated": ("escalated", "升级"),
        "event.assigned": ("assigned", "指派"),
        "event.commented": ("comment", "备注"),
        "unit.d": ("{n} d", "{n}天"),
        "unit.h": ("{n} h", "{n}小时"),
        "unit.min": ("{n} min", "{n}分钟"),
        "unit.join": (" ", ""),
        # Night patrol
        "patrol.heading": ("Night patrol", "夜间巡查"),
        "patrol.zone_label": ("Zone", "片区"),
        "patrol.propose": ("Show the route", "生成巡查路线"),
        "patrol.no_zone": ("No zone with lamps is yours.", "您的片区中没有路灯。"),
        "patrol.route_heading": ("Route for {zone}: {n} lamps to check",
                                 "{zone} 巡查路线：需检查 {n} 盏灯"),
        "patrol.route_empty": ("No lamp needs checking in this zone right now.",
                               "该片区目前没有需要检查的路灯。"),
        "patrol.start": ("Start the patrol", "开始巡查"),
        "patrol.recent": ("Recent patrols", "最近的巡查"),
        "patrol.none": ("No patrols yet.", "还没有巡查记录。"),
        "patrol.item": ("No. {id}, {zone}, {who}, started {time}",
                        "第 {id} 次，{zone}，{who}，开始于 {time}"),
        "patrol.under_way": ("under way", "进行中"),
        "patrol.finished_at": ("finished {time}", "结束于 {time}"),
        "patrol.title": ("Patrol {id}, {zone}", "巡查 {id}，{zone}"),
        "patrol.progress": ("{done} of {total} lamps marked", "已标记 {done}/{total} 盏"),
        "patrol.note_label": ("Note (what you see, photo number)", "备注（所见情况、照片编号）"),
        "patrol.marked": ("Marked {mark} at {time}", "{time} 标记为：{mark}"),
        "patrol.mismatch": ("Telemetry says this lamp is lit: alert {id} raised.",
                            "遥测显示此灯亮着：已发出告警 {id}。"),
        "patrol.telemetry_unknown": ("Telemetry could not be read: not compared.",
                                     "无法读取遥测数据，未核对。"),
        "patrol.add_label": ("Another lamp (its id)", "其他路灯（编号）"),
        "patrol.add_submit": ("Add to the route", "加入路线"),
        "patrol.finish": ("Finish the patrol", "结束巡查"),
        "patrol.finished": ("This patrol is finished.", "本次巡查已结束。"),
        "patrol.csv": ("Download as CSV", "下载 CSV"),
        "patrol.no_lamp": ("Zone {zone} has no lamp {id} in service.",
                           "片区 {zone} 没有在用的 {id} 号路灯。"),
        "reason.dark": ("dark", "不亮"),
        "reason.silent": ("silent", "无信号"),
        "reason.repaired": ("recently repaired", "近期修复"),
        "reason.reported": ("reported by a citizen", "市民报告"),
        "reason.mismatch": ("patrol mismatch", "巡查不符"),
        "reason.added": ("added on patrol", "巡查中添加"),
        "mark.lit": ("Lit", "亮"),
        "mark.dark": ("Dark", "不亮"),
        "mark.damaged": ("Damaged", "损坏"),
        # Errors
        "error.heading": ("Cannot do that", "无法完成"),
        "error.not_found": ("Not found, or not in your zones.", "未找到，或不在您的片区内。"),
        "error.csrf": ("This form has expired: go back, reload the page and try again.",
                       "表单已过期：请返回、刷新页面后重试。"),
        **{f"kind.{kind}": names for kind, names in _KINDS.items()},
    }.items()
}


def text(lang: Language, key: str, **values: object) -> str:
    """The label `key` in `lang`, its {fields} filled with `values`. KeyError for an unknown key:
    a missing label is a bug, not a blank."""
    return CATALOGUE[key][lang].format(**values)


def choose_language(query: str | None, cookie: str | None, accept: str | None) -> Language:
    """`?lang=` when it names a language, else the cookie's, else Accept-Language's best match
    (by q-value, then order), else English."""
    for chosen in (query, cookie):
        if chosen in LANGUAGES:
            return chosen  # type: ignore[return-value]
    return _from_accept_language(accept or "")


def _from_accept_language(header: str) -> Language:
    ranked: list[tuple[float, int, Language]] = []
    for order, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if quality > 0:
            ranked.append((-quality, order, primary))  # type: ignore[arg-type]
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def duration(lang: Language, ms: int) -> str:
    """A span as a crew reads it: "2 d 3 h", "3 h 20 min", "12 min" (whole minutes, at least 1)."""
    minutes = max(1, abs(ms) // 60_000)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        parts = [("unit.d", days)] + ([("unit.h", hours)] if hours else [])
    elif hours:
        parts = [("unit.h", hours)] + ([("unit.min", minutes)] if minutes else [])
    else:
        parts = [("unit.min", minutes)]
    return text(lang, "unit.join").join(text(lang, key, n=n) for key, n in parts)

