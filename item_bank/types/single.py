"""单选题 (single choice): two to eight options, exactly one of them the key ("B")."""

from __future__ import annotations

from item_bank.types.choice import ChoiceType


class SingleChoice(ChoiceType):
    name = "single"
    label = "单选题"
    short_label = "单选"
    aliases = ("单项选择", "单项选择题")
    key_hint = "一个字母（B）"
    shuffles_options = True
    excel_key_check = ('AND(LEN({a}2)=1,ISNUMBER(FIND({a}2,"ABCDEFGH")))', "填一个字母")
