"""The staff password policy, enforced wherever a staff password is set.

Staff accounts reach the bank, the results and the candidates' personal data, so a password must be long and
not one that an attacker tries first. The list below holds the shapes every guessing list starts with; the
rules after it catch the rest of that family (one repeated character, a run of the keyboard or the digits,
the username itself).
"""

from __future__ import annotations

MIN_LENGTH = 10
MAX_LENGTH = 128

COMMON = frozenset({
    "password", "password1", "password123", "passw0rd", "p@ssw0rd", "p@ssword", "admin", "admin123", "admin888",
    "administrator", "root", "toor", "welcome", "welcome1", "letmein", "iloveyou", "monkey", "dragon", "master",
    "sunshine", "princess", "football", "baseball", "superman", "trustno1", "qwerty", "qwerty123", "qwertyuiop",
    "asdfghjkl", "zxcvbnm", "1q2w3e4r", "1qaz2wsx", "qazwsx", "abc123", "abcd1234", "a123456", "a1234567",
    "aa123456", "woaini", "woaini1314", "5201314", "1314520", "baoan", "baoan123", "exam", "exam123", "kaoshi",
    "changeme", "default", "secret", "test", "test123", "guest", "user", "login",
})
SEQUENCES = ("0123456789", "9876543210", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def password_problem(password: str, username: str = "") -> str | None:
    """Why `password` may not be a staff password (in Chinese), or None when it may."""
    if len(password) < MIN_LENGTH:
        return f"密码至少 {MIN_LENGTH} 个字符（当前 {len(password)} 个）。"
    if len(password) > MAX_LENGTH:
        return f"密码最多 {MAX_LENGTH} 个字符。"
    folded = password.casefold()
    if folded in COMMON or folded.rstrip("0123456789!@#.") in COMMON:
        return "这个密码太常见，很容易被猜到，请换一个。"
    if len(set(folded)) <= 2:
        return "密码不能只由一两个字符重复组成。"
    if any(folded in run or folded in run * 2 for run in SEQUENCES):
        return "密码不能是连续的数字或键盘字母。"
    if username and username.casefold() in folded:
        return "密码不能包含用户名。"
    return None
