"""Chinese labels for what machines call by code: alarm types, severities, states, device kinds,
commands. One map for the server (alarm texts, PDFs) and the console; the pages keep their own in JS."""

from __future__ import annotations

ALARM_ZH = {
    "offline": "设备离线", "paper_low": "纸张将尽", "paper_out": "缺纸", "jam": "卡纸", "fault": "设备故障",
    "disk_full": "磁盘将满", "door_open_long": "柜门长时间未关", "door_unexpected": "柜门异常打开（无开门指令）",
    "door_jam": "柜门未能打开", "temperature": "温度超限", "humidity": "湿度超限", "screen_dark": "大厅屏幕黑屏",
    "mqtt_rejected": "设备消息异常", "clock_skew": "设备时钟偏差", "pickup_guessing": "取件码多次输错",
    "slot_mismatch": "格口与记录不符", "post_vacant": "空岗", "wait_alert": "等待预警", "alarm_flood": "报警泛滥",
    "feed_down": "省平台推送中断", "mqtt_down": "设备消息服务中断",
    "followup_overdue": "差评回访超期",
}
SEVERITY_ZH = {"critical": "紧急", "major": "重要", "minor": "一般", "warning": "提示"}
ALARM_STATE_ZH = {"active": "未确认", "acked": "已确认", "cleared": "已恢复未确认", "closed": "已关闭"}
SOURCE_ZH = {"device": "设备", "post": "窗口", "service": "业务", "hall": "大厅", "followup": "差评回访"}
KIND_ZH = {"kiosk": "取号机", "ticket_printer": "打印机", "locker": "智能柜", "screen": "大屏", "env_sensor": "环境",
           "caller": "呼叫器"}
COMMAND_ZH = {"open_door": "开门", "reboot": "重启", "print": "打印", "display": "显示"}
COMMAND_STATE_ZH = {"pending": "已保存", "sent": "已发送", "accepted": "已接受", "done": "已完成", "failed": "失败",
                    "rejected": "被拒绝", "timeout": "超时", "expired": "已过期", "unknown": "结果未知"}
