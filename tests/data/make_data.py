"""Writes the small test sources in this folder (run from the repository root with the project's
Python: ``.venv/bin/python tests/data/make_data.py``). They differ from the demo samples on
purpose: other names, alphabets and layouts, so that tests do not only see the demo's data.
The generated files are committed; this script documents how (the XLSX is binary)."""

from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).parent

PAYMENTS = """transaction_id,timestamp,from_account,to_account,amount,currency,from_name,to_name,from_country,to_country,payment_type,reference
T-1,2024-05-02T09:15:00Z,DE89370400440532013000,NL91ABNA0417164300,"1,250.00",EUR,Олена Коваль,Agro Vlaanderen BV,DE,NL,sepa,Wages April
T-2,03.05.2024 10:30:00,NL91ABNA0417164300,DE89370400440532013000,310.50,EUR,Agro Vlaanderen BV,Олена Коваль,NL,DE,sepa,Refund
T-3,2024-05-04T18:00:00+02:00,GB33BUKB20201555555555,RO49AAAA1B31007593840000,9800,GBP,Ionuț Munteanu,Ion Munteanu,GB,RO,remittance,family
"""
CALLS = """caller,callee,start_time,duration_s,caller_cell,callee_cell,call_type
+380 44 123 4567,+31 20 555 0101,2024-05-02T08:00:00Z,65,UA-KYIV-1,NL-AMS-9,voice
0031 20 555 0101,+380441234567,2024-05-02T08:05:00Z,0,NL-AMS-9,,sms
"""
COMPANIES = """registration_number,company_name,jurisdiction,incorporation_date,legal_form,address,status,sector,officer_name,officer_role,officer_birth_date,officer_nationality,owner_name,owner_type,owner_registration_number,owner_country,share_pct
KVK-7741,Agro Vlaanderen BV,NL,2019-02-01,Besloten vennootschap,"Kade 4, Rotterdam",active,01130 Growing of vegetables,Pieter de Vries,director,1975-07-19,NL,Pieter de Vries,person,,NL,60
KVK-7741,Agro Vlaanderen BV,NL,2019-02-01,Besloten vennootschap,"Kade 4, Rotterdam",active,01130 Growing of vegetables,,,,,Danube Holdings Ltd,company,HE-99812,CY,40
"""
PERSONS = """id,full_name,first_name,last_name,date_of_birth,gender,nationality,id_number,phone,email,address,city,country
UA-1,Олена Коваль,,,1992-11-03,female,UA,FE 123456,+380 44 123 4567,olena@example.org,вул. Хрещатик 1,Київ,UA
NL-7,,Pieter,de Vries,1975-07-19,male,NL,NLX123456,020 555 0101,,Kade 4,Rotterdam,NL
"""
FTM = """{"id": "td-person-munteanu", "schema": "Person", "properties": {"name": ["Ion Munteanu"], "nationality": ["ro"], "birthDate": ["1988-01-30"]}}
{"id": "td-company-danube", "schema": "Company", "properties": {"name": ["Danube Holdings Ltd"], "jurisdiction": ["cy"], "registrationNumber": ["HE-99812"]}}
{"id": "td-ownership-1", "schema": "Ownership", "properties": {"owner": ["td-person-munteanu"], "asset": ["td-company-danube"], "percentage": ["100"]}}
"""
GOAML = """<?xml version="1.0" encoding="UTF-8"?>
<report>
  <rentity_id>77</rentity_id>
  <submission_code>E</submission_code>
  <report_code>STR</report_code>
  <entity_reference>TD-0001</entity_reference>
  <submission_date>2024-06-01T00:00:00</submission_date>
  <currency_code_local>EUR</currency_code_local>
  <reason>Test report: wages paid into an account a third party controls.</reason>
  <transaction>
    <transactionnumber>TD-TX-1</transactionnumber>
    <transaction_description>Salary credit</transaction_description>
    <date_transaction>2024-05-02T09:15:00</date_transaction>
    <transmode_code>A</transmode_code>
    <amount_local>1250.00</amount_local>
    <t_from_my_client>
      <from_funds_code>A</from_funds_code>
      <from_entity>
        <name>Agro Vlaanderen BV</name>
        <incorporation_number>KVK-7741</incorporation_number>
        <incorporation_country_code>NL</incorporation_country_code>
      </from_entity>
      <from_country>NL</from_country>
    </t_from_my_client>
    <t_to_my_client>
      <to_funds_code>A</to_funds_code>
      <to_account>
        <institution_name>Test Bank</institution_name>
        <account>DE89370400440532013000</account>
        <currency_code>EUR</currency_code>
        <account_name>O KOVAL</account_name>
        <signatory>
          <is_primary>true</is_primary>
          <t_person>
            <gender>F</gender>
            <first_name>Olena</first_name>
            <last_name>KOVAL</last_name>
            <birthdate>1992-11-03T00:00:00</birthdate>
            <nationality1>UA</nationality1>
          </t_person>
          <role>A</role>
        </signatory>
      </to_account>
      <to_country>DE</to_country>
    </t_to_my_client>
  </transaction>
</report>
"""


def main() -> None:
    for name, text in [
        ("payments.csv", PAYMENTS),
        ("calls.csv", CALLS),
        ("companies.csv", COMPANIES),
        ("persons.csv", PERSONS),
        ("entities.ftm.jsonl", FTM),
        ("goaml.xml", GOAML),
    ]:
        (HERE / name).write_text(text, encoding="utf-8")
    book = Workbook()
    sheet = book.active
    sheet.title = "suspects"
    sheet.append(["id", "first_name", "last_name", "date_of_birth", "nationality", "phone"])
    sheet.append(["RO-9", "Ionuț", "Munteanu", "1988-01-30", "RO", "+40 754 000 111"])
    sheet.append(["RO-10", "Ana", "Lungu", None, "MD", None])
    book.save(HERE / "persons.xlsx")


if __name__ == "__main__":
    main()
